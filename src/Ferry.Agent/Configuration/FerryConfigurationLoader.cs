using System.Globalization;
using System.Reflection;
using System.Text.Json;
using System.Text.RegularExpressions;
using Ferry.Coordination;
using Ferry.Errors;
using Ferry.Meta;
using Ferry.Storage;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.CommandLine;
using Microsoft.Extensions.Configuration.EnvironmentVariables;

namespace Ferry.Agent.Configuration;

/// <summary>
/// Reads Ferry's configuration (DESIGN §11, docs/configuration.md) through Microsoft.Extensions.Configuration: a JSON
/// file's <c>Ferry</c> section, over it the <c>FERRY__</c> environment variables, over those the command line's flags,
/// the .NET way. Then <c>${NAME}</c> in a value is expanded from the environment, every key is checked against the
/// known ones (a typo is an error, not a default), and every value by the rules the CLI's flags use. A problem is one
/// <c>FERRY:Config:Invalid</c> error naming its key (and where the value came from when not from the file).
/// </summary>
public static partial class FerryConfigurationLoader
{
    /// <summary>The section Ferry's settings live in, in a file of its own or in an application's configuration.</summary>
    public const string SectionName = "Ferry";

    /// <summary>Environment variables that override the file: <c>FERRY__StoreId</c>, <c>FERRY__Databases__0__To</c>.</summary>
    public const string EnvironmentPrefix = "FERRY__";

    private static readonly string[] DatabaseSettingNames = PropertyNames(typeof(DatabaseSettings));
    private static readonly string[] TaskSettingNames = PropertyNames(typeof(TaskSettings));
    private static readonly string[] EtcdSettingNames = PropertyNames(typeof(EtcdSettings));
    private static readonly string[] RootNames = [.. PropertyNames(typeof(FerrySettings)), "Defaults", "Databases", "Etcd"];

    /// <summary>
    /// Reads a configuration file as <c>--config FILE</c> does. <paramref name="commandLine"/> holds the flags given,
    /// by key (<c>StoreId</c> → <c>"3"</c>), the top layer; <paramref name="variables"/> looks up <c>${NAME}</c>
    /// (default: the process environment). Relative paths in the file are relative to the file's directory.
    /// </summary>
    public static FerryConfiguration LoadFile(
        string path,
        IReadOnlyDictionary<string, string>? commandLine = null,
        Func<string, string?>? variables = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        var full = System.IO.Path.GetFullPath(path);
        if (Directory.Exists(full)) throw Invalid($"{path}: is a directory, not a configuration file");
        if (!File.Exists(full)) throw Invalid($"{path}: no such configuration file");
        IConfigurationRoot file;
        try
        {
            file = new ConfigurationBuilder().AddJsonFile(full, optional: false, reloadOnChange: false).Build();
        }
        catch (InvalidDataException e)
        {
            throw Invalid($"{path}: {JsonProblem(e)}", e);
        }
        catch (FormatException e)
        {
            // A key given twice in one object, as the JSON provider words it.
            throw Invalid($"{path}: {e.Message}", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Invalid($"{path}: cannot be read: {e.Message}", e);
        }

        foreach (var top in file.GetChildren())
        {
            if (!top.Key.Equals(SectionName, StringComparison.OrdinalIgnoreCase))
            {
                throw Invalid($"{path}: unknown key '{top.Key}': Ferry's settings go in a \"{SectionName}\" object, {{ \"{SectionName}\": {{ … }} }}");
            }
        }

        var section = file.GetSection(SectionName);
        if (section.Value is not null) throw Invalid($"{path}: \"{SectionName}\" must be an object, {{ \"{SectionName}\": {{ … }} }}");

        var layered = new ConfigurationBuilder()
            .AddConfiguration(section)
            .AddEnvironmentVariables(EnvironmentPrefix)
            .AddCommandLine([.. (commandLine ?? new Dictionary<string, string>()).Select(kv => $"--{kv.Key}={kv.Value}")])
            .Build();
        return Load(layered, SectionName, System.IO.Path.GetDirectoryName(full)!, variables, key => Origin(layered, key));
    }

    /// <summary>
    /// Reads and validates a <c>Ferry</c> section (an application's <c>configuration.GetSection("Ferry")</c>), with
    /// relative paths taken from <paramref name="baseDirectory"/> (default: the current directory).
    /// </summary>
    public static FerryConfiguration Load(IConfiguration section, string? baseDirectory = null, Func<string, string?>? variables = null)
    {
        ArgumentNullException.ThrowIfNull(section);
        var name = section is IConfigurationSection s ? s.Path : SectionName;
        return Load(section, name, baseDirectory ?? Environment.CurrentDirectory, variables, _ => null);
    }

    private static FerryConfiguration Load(
        IConfiguration section,
        string name,
        string baseDirectory,
        Func<string, string?>? variables,
        Func<string, string?> origin)
    {
        var read = new Reader(name, baseDirectory, origin);
        var lookup = variables ?? Environment.GetEnvironmentVariable;
        foreach (var (key, text) in section.AsEnumerable(makePathsRelative: true))
        {
            if (text is null) continue;
            var shown = read.KeyOf(key);
            var (value, used) = VariableExpansion.Expand(shown, text, lookup);
            read.Values[key] = new ConfigValue(shown, text, value, used.Count > 0);
        }

        var expanded = new ConfigurationBuilder()
            .AddInMemoryCollection(read.Values.Select(kv => KeyValuePair.Create(kv.Key, (string?)kv.Value.Value)))
            .Build();
        read.CheckKeys(expanded, RootNames, "");
        return read.Configuration(expanded);
    }

    /// <summary>Where a value came from, when not from the file: the environment variable or the command line.</summary>
    private static string? Origin(IConfigurationRoot layered, string key)
    {
        foreach (var provider in layered.Providers.Reverse())
        {
            if (!provider.TryGet(key, out _)) continue;
            return provider switch
            {
                EnvironmentVariablesConfigurationProvider => $"from {EnvironmentPrefix}{key.Replace(":", "__", StringComparison.Ordinal)}",
                CommandLineConfigurationProvider => "from the command line",
                _ => null,
            };
        }

        return null;
    }

    private static string JsonProblem(InvalidDataException e)
    {
        for (Exception? inner = e; inner is not null; inner = inner.InnerException)
        {
            if (inner is JsonException { LineNumber: { } line } json)
            {
                var detail = json.Message.Split(" LineNumber:", 2)[0].Split(" Path:", 2)[0].TrimEnd('.', ' ');
                return $"invalid JSON at line {line + 1}: {detail}";
            }
        }

        return $"invalid JSON: {e.InnerException?.Message ?? e.Message}";
    }

    private static string[] PropertyNames(Type type) =>
        [.. type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite).Select(p => p.Name)];

    internal static FerryException Invalid(string message, Exception? inner = null) => new(ErrorCodes.ConfigInvalid, message, innerException: inner);

    /// <summary>A value as written and as expanded; <see cref="Key"/> is its full key, for messages.</summary>
    private sealed record ConfigValue(string Key, string Raw, string Value, bool FromVariable);

    [GeneratedRegex("[^A-Za-z0-9._-]+")]
    private static partial Regex NotInTaskName();

    /// <summary>One reading of a section: the values by relative key, and how keys and their origins are named.</summary>
    private sealed class Reader(string name, string baseDirectory, Func<string, string?> origin)
    {
        public Dictionary<string, ConfigValue> Values { get; } = new(StringComparer.OrdinalIgnoreCase);

        public string KeyOf(string relative) => relative.Length == 0 ? name : $"{name}:{relative}";

        /// <summary>The key as a message names it: with where the value came from when that was not the file.</summary>
        private string Named(string relative) => origin(relative) is { } from ? $"{KeyOf(relative)} ({from})" : KeyOf(relative);

        /// <summary>Every key is one Ferry knows, each section a section and each value a value.</summary>
        public void CheckKeys(IConfiguration node, string[] known, string path)
        {
            foreach (var child in node.GetChildren())
            {
                var relative = path.Length == 0 ? child.Key : $"{path}:{child.Key}";
                var match = known.FirstOrDefault(k => k.Equals(child.Key, StringComparison.OrdinalIgnoreCase));
                if (match is null)
                {
                    throw Invalid($"{Named(relative)}: unknown key; the keys here are {string.Join(", ", known)}");
                }

                var hasChildren = child.GetChildren().Any();
                switch (path.Length == 0 ? match : null)
                {
                    case "Defaults":
                        if (child.Value is { Length: > 0 }) throw Invalid($"{Named(relative)}: must be an object of task settings, {{ \"Retention\": \"7d\", … }}");
                        CheckKeys(child, TaskSettingNames, relative);
                        break;
                    case "Etcd":
                        if (child.Value is { Length: > 0 }) throw Invalid($"{Named(relative)}: must be an object, {{ \"Ca\": \"ca.pem\", \"User\": \"ferry\", \"Password\": \"${{ETCD_PASSWORD}}\" }}");
                        CheckKeys(child, EtcdSettingNames, relative);
                        break;
                    case "Databases":
                        // An empty list reads as an empty value.
                        if (child.Value is { Length: > 0 } && !hasChildren) throw Invalid($"{Named(relative)}: must be a list, [ {{ \"Path\": …, \"To\": … }}, … ]");
                        foreach (var entry in child.GetChildren())
                        {
                            var entryPath = $"{relative}:{entry.Key}";
                            if (!int.TryParse(entry.Key, NumberStyles.None, CultureInfo.InvariantCulture, out _))
                            {
                                throw Invalid($"{Named(entryPath)}: Databases must be a list, [ {{ \"Path\": …, \"To\": … }}, … ], not an object");
                            }

                            // A bare string is the Path alone: "Databases": [ "/data/app.db" ].
                            if (entry.GetChildren().Any()) CheckKeys(entry, DatabaseSettingNames, entryPath);
                        }

                        break;
                    default:
                        if (hasChildren) throw Invalid($"{Named(relative)}: must be a value, not an object or a list");
                        break;
                }
            }
        }

        public FerryConfiguration Configuration(IConfiguration expanded)
        {
            var agent = expanded.Get<FerrySettings>() ?? new FerrySettings();
            var defaults = expanded.GetSection("Defaults").Get<TaskSettings>(o => o.ErrorOnUnknownConfiguration = true) ?? new TaskSettings();
            var databases = new List<ConfiguredDatabase>();
            foreach (var entry in expanded.GetSection("Databases").GetChildren())
            {
                var relative = $"Databases:{entry.Key}";
                var bare = !entry.GetChildren().Any();
                var settings = bare
                    ? new DatabaseSettings { Path = entry.Value }
                    : entry.Get<DatabaseSettings>(o => o.ErrorOnUnknownConfiguration = true) ?? new DatabaseSettings();
                var database = Database(relative, settings, defaults, bare ? relative : $"{relative}:Path");
                Unique(database, databases);
                databases.Add(database);
            }

            var etcd = expanded.GetSection("Etcd").Get<EtcdSettings>(o => o.ErrorOnUnknownConfiguration = true);
            string? File(string? path) => path is { Length: > 0 } ? System.IO.Path.GetFullPath(System.IO.Path.Combine(baseDirectory, path)) : null;
            return new FerryConfiguration
            {
                Etcd = etcd is null ? null : new FerryEtcdSettings(File(etcd.Ca), File(etcd.Cert), File(etcd.Key), etcd.User, etcd.Password, File(etcd.PasswordFile)),
                Meta = agent.Meta is { } meta ? Meta(meta, "Meta") : null,
                MetaShown = Written("Meta"),
                StoreId = agent.StoreId is { } storeId ? Integer(storeId, "StoreId", minimum: 1, "a positive integer") : null,
                Http = agent.Http is { } http ? Parse("Http", "an address such as 127.0.0.1:9479", () => AgentHttpAddress.Parse(http, "address")) : null,
                HttpShown = Written("Http"),
                Generation = agent.Generation is { } generation ? Integer(generation, "Generation", minimum: 0, "0 or more") : null,
                Takeover = agent.Takeover switch
                {
                    null => null,
                    "now" => Coordination.Takeover.Now,
                    "when-ready" => Coordination.Takeover.WhenReady,
                    _ => throw Invalid($"{Named("Takeover")}: {Quoted("Takeover")} must be 'now' or 'when-ready'"),
                },
                TakeoverTimeout = agent.TakeoverTimeout is { } timeout ? Duration(timeout, "TakeoverTimeout") : null,
                Databases = databases,
            };
        }

        /// <summary>The value at a key as a message may quote it: as written, so an expanded secret never shows.</summary>
        private string Quoted(string relative) => $"'{Values.GetValueOrDefault(relative)?.Raw}'";

        /// <summary>The value as written, when it came from an environment variable (null otherwise): what may be shown of it.</summary>
        private string? Written(string relative) => Values.GetValueOrDefault(relative) is { FromVariable: true } value ? value.Raw : null;

        private ConfiguredDatabase Database(string relative, DatabaseSettings entry, TaskSettings defaults, string pathKey)
        {
            if (entry.Path is not { } path || path.Trim().Length == 0)
            {
                throw Invalid($"{KeyOf(relative)}: no Path: every database needs one, a file or a glob in the file name such as /data/tenants/*.db");
            }

            var full = System.IO.Path.GetFullPath(System.IO.Path.Combine(baseDirectory, path));
            if ((System.IO.Path.GetDirectoryName(full) ?? "").IndexOfAny(['*', '?']) >= 0)
            {
                throw Invalid($"{Named(pathKey)}: {Quoted(pathKey)} has a wildcard in a directory; only the file name may hold * or ?");
            }

            var written = new Dictionary<string, string>(StringComparer.Ordinal);
            if (Written(pathKey) is { } pathWritten) written[nameof(DatabaseSettings.Path)] = pathWritten;

            // Each setting is the entry's, else the Defaults'; a problem names the key it came from.
            (string Text, string Key)? Setting(string setting, string? own, string? inherited)
            {
                var found = own is not null ? (own, $"{relative}:{setting}") : inherited is not null ? (inherited, $"Defaults:{setting}") : ((string, string)?)null;
                if (found is { } f && Written(f.Item2) is { } shown) written[setting] = shown;
                return found;
            }

            var to = Setting(nameof(TaskSettings.To), entry.To, defaults.To)
                ?? throw Invalid($"{KeyOf(relative)}: no storage: set To here, or {KeyOf("Defaults:To")} for every database (a directory, file:///dir, s3://bucket/prefix or az://container/prefix)");
            // An empty value would combine into the file's own directory: a backup nobody asked for.
            if (to.Text.Trim().Length == 0) throw Invalid($"{Named(to.Key)}: is empty; give a directory, file:///dir, s3://bucket/prefix or az://container/prefix");
            var storage = Parse(to.Key, "a storage URL", () => StorageUrl.Parse(
                to.Text.Contains("://", StringComparison.Ordinal) ? to.Text : System.IO.Path.Combine(baseDirectory, to.Text)));

            var keys = new Dictionary<string, string>(StringComparer.Ordinal);
            TimeSpan? Span(string setting, string? own, string? inherited)
            {
                if (Setting(setting, own, inherited) is not { } found) return null;
                keys[setting] = found.Key;
                return Duration(found.Text, found.Key);
            }

            var fallback = TaskOptions.Defaults;
            var options = new TaskOptions
            {
                FlushInterval = Span(nameof(TaskSettings.FlushInterval), entry.FlushInterval, defaults.FlushInterval) ?? fallback.FlushInterval,
                RetryBudget = Span(nameof(TaskSettings.RetryBudget), entry.RetryBudget, defaults.RetryBudget) ?? fallback.RetryBudget,
                StallTimeout = Span(nameof(TaskSettings.StallTimeout), entry.StallTimeout, defaults.StallTimeout) ?? fallback.StallTimeout,
                MaxLag = Span(nameof(TaskSettings.MaxLag), entry.MaxLag, defaults.MaxLag) ?? fallback.MaxLag,
                AutoResume = Setting(nameof(TaskSettings.AutoResume), entry.AutoResume, defaults.AutoResume) is { } autoResume
                    ? Boolean(autoResume.Text, autoResume.Key)
                    : fallback.AutoResume,
                Retention = Span(nameof(TaskSettings.Retention), entry.Retention, defaults.Retention) ?? fallback.Retention,
                RetentionGrace = Span(nameof(TaskSettings.RetentionGrace), entry.RetentionGrace, defaults.RetentionGrace) ?? fallback.RetentionGrace,
            };
            if (options.FindProblem() is { } problem)
            {
                // Out of its range, by TaskOptions' rules (the CLI's flags' too), named by the key it came from.
                var at = keys.TryGetValue(problem.Setting, out var key)
                    ? $"{Named(key)}: {Quoted(key)}"
                    : $"{KeyOf($"{relative}:{problem.Setting}")}: {Durations.Humanize(problem.Value)} (its default)";
                throw Invalid($"{at} {problem.Problem}");
            }

            var task = entry.Task ?? DerivedTaskName(full);
            if (entry.Task is not null)
            {
                Parse($"{relative}:Task", "a task name", () =>
                {
                    TaskControl.ValidateName(task);
                    return task;
                });
            }

            return new ConfiguredDatabase { Key = KeyOf(relative), Task = task, Path = full, Storage = storage, Options = options, Written = written };
        }

        /// <summary>No database listed twice, no task name taken twice.</summary>
        private void Unique(ConfiguredDatabase database, List<ConfiguredDatabase> earlier)
        {
            if (earlier.FirstOrDefault(d => d.Path == database.Path) is { } samePath)
            {
                throw Invalid($"{database.Key}: {database.PathShown} is listed already, as {samePath.Key}; list each database once");
            }

            if (earlier.FirstOrDefault(d => d.Task == database.Task) is { } sameTask)
            {
                var how = Values.ContainsKey($"{database.Key[(name.Length + 1)..]}:Task") ? "" : " (derived from its path)";
                throw Invalid($"{database.Key}: its task name '{database.Task}'{how} is {sameTask.Key}'s too; give one of them its own Task");
            }
        }

        /// <summary>
        /// A stable, valid task name from the path alone, so reordering the file renames nothing: the file name
        /// without its extension, or the directory's name for a glob (<c>/data/tenants/*.db</c> → <c>tenants</c>).
        /// </summary>
        private static string DerivedTaskName(string full)
        {
            var file = System.IO.Path.GetFileName(full);
            var stem = file.IndexOfAny(['*', '?']) >= 0
                ? System.IO.Path.GetFileName(System.IO.Path.GetDirectoryName(full)) ?? ""
                : System.IO.Path.GetFileNameWithoutExtension(file);
            var cleaned = NotInTaskName().Replace(stem, "-").TrimStart('.', '_', '-');
            if (cleaned.Length == 0) cleaned = "database";
            return cleaned.Length > 128 ? cleaned[..128] : cleaned;
        }

        private string Meta(string text, string relative)
        {
            // A relative embedded store is relative to the file, like every other path in it.
            var path = text.StartsWith("file:", StringComparison.Ordinal) && !text.StartsWith("file://", StringComparison.Ordinal) ? text["file:".Length..] : null;
            if (path is { Length: > 0 } && !System.IO.Path.IsPathRooted(path)) text = "file:" + System.IO.Path.Combine(baseDirectory, path);
            return Parse(relative, "a metadata store URL", () => MetaUrl.Parse(text, "metadata store URL")).ToString();
        }

        private TimeSpan Duration(string text, string relative) => Durations.TryParse(text, out var span)
            ? span
            : throw Invalid($"{Named(relative)}: {Quoted(relative)} is not a duration; {Durations.Forms}");

        private bool Boolean(string text, string relative) => bool.TryParse(text, out var flag)
            ? flag
            : throw Invalid($"{Named(relative)}: {Quoted(relative)} is not true or false");

        private long Integer(string text, string relative, long minimum, string what) =>
            long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var number) && number >= minimum
                ? number
                : throw Invalid($"{Named(relative)}: {Quoted(relative)} is not {what}");

        /// <summary>
        /// Runs one of Ferry's own parsers on the value at a key. Its message quotes the value as it read it, so for a
        /// value that came from an environment variable only what was written is shown, never the expansion.
        /// </summary>
        private T Parse<T>(string relative, string what, Func<T> parse)
        {
            try
            {
                return parse();
            }
            catch (FerryException e) when (e.Code.Area == "Config")
            {
                throw Written(relative) is not null
                    ? Invalid($"{Named(relative)}: {Quoted(relative)} is not {what} once expanded (the expansion is not shown: it may be a secret)", e)
                    : Invalid($"{Named(relative)}: {e.Message}", e);
            }
        }
    }
}
