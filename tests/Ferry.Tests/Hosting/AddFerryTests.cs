using System.Diagnostics.Metrics;
using Ferry.Agent;
using Ferry.Diagnostics;
using Ferry.Errors;
using Ferry.Hosting;
using Ferry.TestKit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Ferry.Tests.Hosting;

/// <summary>AddFerry's options (bound from configuration, checked at once) and what it registers on the application's services.</summary>
public sealed class AddFerryTests : IDisposable
{
    private readonly TempDirectory _dir = new("add-ferry");

    public void Dispose() => _dir.Dispose();

    /// <summary>Awaits a condition with a generous deadline (2 cores shared), never a fixed sleep.</summary>
    private static async Task EventuallyAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the condition did not hold within 30 s");
            await Task.Delay(20);
        }
    }

    private static IConfiguration Configuration(params (string Key, string Value)[] settings) => new ConfigurationBuilder()
        .AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value)))
        .Build()
        .GetSection("Ferry");

    [Fact]
    public void AddFerry_ConfigurationSection_OneOwnTaskPerDatabaseWithItsSettings()
    {
        var services = new ServiceCollection();
        services.AddFerry(Configuration(
            ("Ferry:Meta", $"file:{_dir.File("meta.db")}"),
            ("Ferry:StoreId", "7"),
            ("Ferry:Databases:0:Path", _dir.File("app.db")),
            ("Ferry:Databases:0:To", _dir.File("backup")),
            ("Ferry:Databases:0:FlushInterval", "250ms"),
            ("Ferry:Databases:1:Path", _dir.File("audit.db")),
            ("Ferry:Databases:1:To", "s3://bucket/audit"),
            ("Ferry:Databases:1:Task", "audit-log"),
            ("Ferry:Databases:1:Retention", "1d")));

        var options = (FerryAgentOptions)services.Single(d => d.ServiceType == typeof(FerryAgentOptions)).ImplementationInstance!;
        Assert.Equal(7, options.Store.StoreId);
        var tasks = options.DefinedTasks;
        Assert.Equal(["app", "audit-log"], tasks.Select(t => t.Name));
        Assert.Equal([_dir.File("app.db")], tasks[0].Databases);
        Assert.Equal(250L, tasks[0].FlushIntervalMs);
        Assert.Equal(new Uri(_dir.File("backup")).AbsoluteUri, tasks[0].Storage);
        Assert.Equal((long)TimeSpan.FromDays(1).TotalMilliseconds, tasks[1].RetentionMs);
        Assert.Contains(services, d => d.ServiceType == typeof(IHostedService));
    }

    [Theory]
    [InlineData("Ferry:StoreId", "0", "StoreId")]
    [InlineData("Ferry:Databases:0:To", "", "Ferry:Databases:0:To")]
    [InlineData("Ferry:Databases:0:FlushInterval", "2h", "Ferry:Databases:0:FlushInterval")]
    [InlineData("Ferry:Databases:0:Retentoin", "1d", "Ferry:Databases:0:Retentoin")]
    public void AddFerry_InvalidSetting_ConfigErrorNamingIt(string key, string value, string named)
    {
        var settings = new Dictionary<string, string>
        {
            ["Ferry:Databases:0:Path"] = _dir.File("app.db"),
            ["Ferry:Databases:0:To"] = _dir.File("backup"),
        };
        settings[key] = value;

        var error = Assert.Throws<FerryException>(() => new ServiceCollection().AddFerry(Configuration([.. settings.Select(s => (s.Key, s.Value))])));

        Assert.Equal(ErrorClass.Permanent, error.Class);
        Assert.StartsWith("FERRY:Config:", error.Code.Code, StringComparison.Ordinal);
        Assert.Contains(named, error.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void AddFerry_NoDatabase_ConfigError()
    {
        var error = Assert.Throws<FerryException>(() => new ServiceCollection().AddFerry(_ => { }));

        Assert.Equal(ErrorCodes.ConfigInvalidArgument, error.Code);
    }

    [Fact]
    public void AddFerry_Twice_RefusedOneAgentPerContainer()
    {
        var services = new ServiceCollection();
        services.AddFerry(o => o.Databases.Add(new FerryDatabaseOptions { Path = _dir.File("a.db"), StorageUrl = _dir.File("backup") }));

        Assert.Throws<InvalidOperationException>(() => services.AddFerry(o => o.Databases.Add(new FerryDatabaseOptions { Path = _dir.File("b.db"), StorageUrl = _dir.File("backup") })));
    }

    [Fact]
    public async Task AddFerry_OnAnApplicationHost_RecordsOnTheApplicationsMeterFactoryAndOpensNothingBeforeStart()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddMetrics();
        builder.Services.AddFerry(o =>
        {
            o.Meta = $"file:{_dir.File("meta.db")}";
            o.Databases.Add(new FerryDatabaseOptions { Path = _dir.File("app.db"), StorageUrl = _dir.File("backup") });
        });
        using var host = builder.Build();

        var metrics = host.Services.GetRequiredService<FerryMetrics>();
        Assert.Same(host.Services.GetRequiredService<IMeterFactory>(), metrics.Meter.Scope);
        Assert.Equal(FerryMetrics.MeterName, metrics.Meter.Name);
        Assert.False(File.Exists(_dir.File("meta.db")));

        await host.StartAsync();
        await EventuallyAsync(() => host.Services.GetRequiredService<FerryAgent>().Report().State == "running");
        Assert.True(File.Exists(_dir.File("meta.db")));
        Assert.True(Directory.Exists(_dir.File("backup")));
        await host.StopAsync();
        Assert.Equal("stopped", host.Services.GetRequiredService<FerryAgent>().Report().State);
        Assert.True(host.Services.GetRequiredService<AgentHost.AgentRun>().Ended);
    }
}
