using System.Reflection;
using Ferry.Agent;
using Ferry.Agent.Configuration;
using Ferry.Coordination;
using Ferry.Errors;
using Ferry.Meta;
using Ferry.Azure;
using Ferry.S3;
using Ferry.Storage;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Ferry.Hosting;

/// <summary>
/// <c>builder.Services.AddFerry(…)</c>: the agent that <c>ferry replicate</c> runs, on the application's own generic
/// host (DESIGN §11). It logs through the application's <c>ILogger</c>, records on a meter named <c>Ferry</c> made by
/// the application's <c>IMeterFactory</c>, opens its metadata store when the host starts and disposes it when the host
/// stops, and ships what it captured before the host finishes stopping.
/// </summary>
public static class FerryServiceCollectionExtensions
{
    /// <summary>Replicates the databases <paramref name="configure"/> names. The options are read and checked here, once.</summary>
    /// <exception cref="FerryException">The options are invalid (<c>FERRY:Config:…</c>), with what to change.</exception>
    public static IServiceCollection AddFerry(this IServiceCollection services, Action<FerryOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        var options = new FerryOptions();
        configure(options);
        return services.AddFerry(options);
    }

    /// <summary>
    /// Replicates the databases a configuration section names (e.g. <c>builder.Configuration.GetSection("Ferry")</c>),
    /// the same shape as <c>ferry replicate --config</c>'s file (docs/configuration.md): <c>Meta</c>, <c>StoreId</c>,
    /// <c>Defaults</c> and <c>Databases</c> with <c>Path</c>, <c>To</c>, <c>FlushInterval</c> ("1s"), <c>Retention</c>
    /// ("7d") and the rest, <c>${NAME}</c> expanded. Relative paths are taken from the current directory.
    /// </summary>
    /// <exception cref="FerryException">The section is invalid (<c>FERRY:Config:Invalid</c>), naming the key.</exception>
    public static IServiceCollection AddFerry(this IServiceCollection services, IConfiguration section)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(section);
        var configuration = FerryConfigurationLoader.Load(section, Environment.CurrentDirectory);
        return services.AddFerry(FerryPlan.Of(configuration, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()));
    }

    private static IServiceCollection AddFerry(this IServiceCollection services, FerryOptions options) =>
        services.AddFerry(FerryPlan.Of(options, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()));

    private static IServiceCollection AddFerry(this IServiceCollection services, FerryPlan plan)
    {

        var meta = AgentMetaStore.OpenedByAgent(async cancellationToken =>
        {
            // The backup directories are made when replication starts, like `ferry replicate` makes them.
            foreach (var directory in plan.Directories) Directory.CreateDirectory(directory);
            return await FerryMetaStores.OpenAsync(plan.Meta, cancellationToken).ConfigureAwait(false);
        });
        var agent = new FerryAgentOptions
        {
            Store = new StoreSessionOptions { StoreId = plan.StoreId, Version = Version },
            DefinedTasks = plan.Tasks,
            OnlyDefinedTasks = true,

            // s3:// and az:// storage live in Ferry.S3 and Ferry.Azure so the core keeps no cloud dependency: wired in
            // here, for this agent only.
            OpenStorage = url => url.Kind switch
            {
                StorageKind.S3 => new S3ObjectStorage(url),
                StorageKind.Azure => new AzureBlobStorage(url),
                _ => StorageFactory.Open(url),
            },
        };
        services.AddFerryAgentServices(meta, agent, new AgentServiceOptions { StopsHost = false });
        return services;
    }

    private static string Version { get; } =
        typeof(FerryServiceCollectionExtensions).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";
}

/// <summary>The options, checked and turned into what the agent runs: one task per database entry.</summary>
internal sealed record FerryPlan(MetaUrl Meta, long StoreId, IReadOnlyList<TaskDefinition> Tasks, IReadOnlyList<string> Directories)
{
    /// <summary>A configuration section, already checked by <see cref="FerryConfigurationLoader"/>.</summary>
    public static FerryPlan Of(FerryConfiguration configuration, long createdAt)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        if (configuration.Databases.Count == 0)
        {
            throw new FerryException(ErrorCodes.ConfigInvalid, $"{FerryConfigurationLoader.SectionName}:Databases: no database is listed; name at least one, "
                + "{ \"Path\": \"data/app.db\", \"To\": \"data/backup\" }");
        }

        var tasks = configuration.DefineTasks(createdAt);
        var directories = tasks.Select(t => StorageUrl.Parse(t.Storage)).Where(u => u.Kind == StorageKind.File).Select(u => u.Location).ToList();
        return new FerryPlan(MetaUrl.Parse(configuration.Meta ?? FerryOptions.DefaultMeta), configuration.StoreId ?? 1, tasks, directories);
    }

    public static FerryPlan Of(FerryOptions options, long createdAt)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.StoreId <= 0) throw Invalid($"Ferry:StoreId must be a positive integer, not {options.StoreId}");
        if (options.Databases.Count == 0) throw Invalid("Ferry:Databases is empty: name at least one database, with its Path and StorageUrl");
        if (string.IsNullOrWhiteSpace(options.Meta)) throw Invalid($"Ferry:Meta is empty: leave it out for the embedded store ({FerryOptions.DefaultMeta}) or give an etcd:// URL");

        var meta = MetaUrl.Parse(options.Meta);
        var tasks = new List<TaskDefinition>();
        var directories = new List<string>();
        for (var i = 0; i < options.Databases.Count; i++)
        {
            var database = options.Databases[i];
            var where = $"Ferry:Databases:{i}";
            if (string.IsNullOrWhiteSpace(database.Path)) throw Invalid($"{where}:Path is empty: give the database file (or a glob)");
            if (string.IsNullOrWhiteSpace(database.StorageUrl)) throw Invalid($"{where}:StorageUrl is empty: give a directory or an s3:// URL");
            var path = System.IO.Path.GetFullPath(database.Path);
            var name = database.Task ?? System.IO.Path.GetFileNameWithoutExtension(path);
            TaskControl.ValidateName(name);
            if (tasks.Any(t => t.Name == name)) throw Invalid($"{where}: task '{name}' is named twice: give each database its own Task");
            var storage = StorageUrl.Parse(database.StorageUrl);
            if (storage.Kind == StorageKind.File) directories.Add(storage.Location);
            var settings = new TaskOptions
            {
                FlushInterval = database.FlushInterval,
                Retention = database.Retention,
                RetryBudget = database.RetryBudget,
            }.Validate();
            tasks.Add(settings.Define(name, [path], storage.ToString(), createdAt));
        }

        return new FerryPlan(meta, options.StoreId, tasks, directories);
    }

    private static FerryException Invalid(string message) => new(ErrorCodes.ConfigInvalidArgument, message);
}
