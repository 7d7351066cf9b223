using Ferry.Agent.Configuration;
using Ferry.Coordination;
using Ferry.Errors;
using Ferry.Storage;
using Ferry.TestKit;
using Microsoft.Extensions.Configuration;

namespace Ferry.Tests.Agent.Configuration;

/// <summary>Reading ferry.json: layering, inheritance from Defaults, ${NAME} expansion, and one line naming the key for every problem.</summary>
public sealed class FerryConfigurationLoaderTests : IDisposable
{
    private readonly TempDirectory _dir = new("config");

    public void Dispose() => _dir.Dispose();

    private static readonly Dictionary<string, string> NoVariables = [];

    private FerryConfiguration Load(string json, IReadOnlyDictionary<string, string>? variables = null, IReadOnlyDictionary<string, string>? commandLine = null)
    {
        var path = _dir.File("ferry.json");
        File.WriteAllText(path, json);
        var lookup = variables ?? NoVariables;
        return FerryConfigurationLoader.LoadFile(path, commandLine, name => lookup.GetValueOrDefault(name));
    }

    private FerryException Fails(string json, IReadOnlyDictionary<string, string>? variables = null)
    {
        var error = Assert.Throws<FerryException>(() => Load(json, variables));
        Assert.Equal(ErrorCodes.ConfigInvalid, error.Code);
        Assert.DoesNotContain('\n', error.Message);
        return error;
    }

    [Fact]
    public void LoadFile_DatabasesOnTwoStorages_EachIsItsOwnTaskInheritingDefaults()
    {
        var config = Load("""
            {
              // Comments are allowed, as in appsettings.json.
              "Ferry": {
                "Meta": "file:meta.db",
                "StoreId": 3,
                "Http": "127.0.0.1:9090",
                "Defaults": { "FlushInterval": "500ms", "Retention": "7d", "To": "file:///backup/all" },
                "Databases": [
                  { "Path": "/data/app.db", "To": "s3://bucket/app" },
                  { "Path": "tenants/*.db", "Retention": "1d", "RetentionGrace": "5m", "AutoResume": true, "MaxLag": "5m" },
                  "/data/plain.db"
                ]
              }
            }
            """);

        Assert.Equal(3, config.StoreId);
        Assert.Equal("127.0.0.1:9090", config.Http!.ToString());
        Assert.Equal($"file:{_dir.File("meta.db")}", config.Meta);
        Assert.Equal(["app", "tenants", "plain"], config.Databases.Select(d => d.Task));
        var (app, tenants, plain) = (config.Databases[0], config.Databases[1], config.Databases[2]);
        Assert.Equal(StorageKind.S3, app.Storage.Kind);
        Assert.Equal(TimeSpan.FromMilliseconds(500), app.Options.FlushInterval);
        Assert.Equal(TimeSpan.FromDays(7), app.Options.Retention);
        Assert.Equal(Path.Combine(_dir.Path, "tenants", "*.db"), tenants.Path);
        Assert.Equal("file:///backup/all", tenants.Storage.ToString());
        Assert.Equal(TimeSpan.FromDays(1), tenants.Options.Retention);
        Assert.Equal(TimeSpan.FromMinutes(5), tenants.Options.RetentionGrace);
        Assert.Equal(TimeSpan.FromMinutes(5), tenants.Options.MaxLag);
        Assert.True(tenants.Options.AutoResume);
        Assert.False(app.Options.AutoResume);
        Assert.Equal(TaskOptions.Defaults.RetryBudget, plain.Options.RetryBudget);
        Assert.Equal("/data/plain.db", plain.Path);

        var definition = config.DefineTasks(createdAt: 42)[1];
        Assert.Equal(new[] { tenants.Path }, definition.Databases);
        Assert.Equal(tenants.Options, definition.Options);
    }

    [Fact]
    public void LoadFile_CommandLine_OverridesTheFile()
    {
        var config = Load("""{ "Ferry": { "StoreId": 3, "Databases": [] } }""", commandLine: new Dictionary<string, string> { ["StoreId"] = "7" });

        Assert.Equal(7, config.StoreId);
        Assert.Empty(config.Databases);
    }

    [Fact]
    public void StoreSession_ConfigOverCommandDefault()
    {
        var config = Load("""{ "Ferry": { "Generation": 4, "Takeover": "when-ready", "TakeoverTimeout": "30s" } }""");

        var session = config.StoreSession(storeId: 1, version: "v");

        Assert.Equal(1, session.StoreId);
        Assert.Equal(4, session.Generation);
        Assert.Equal(Takeover.WhenReady, session.Takeover);
        Assert.Equal(TimeSpan.FromSeconds(30), session.HandoverTimeout);
    }

    [Fact]
    public void LoadFile_Variables_ExpandedButShownAsWritten()
    {
        var config = Load(
            """{ "Ferry": { "Databases": [ { "Path": "/data/a.db", "To": "s3://${BUCKET}/app" }, { "Path": "/data/$${x}.db", "To": "/b" } ] } }""",
            new Dictionary<string, string> { ["BUCKET"] = "secret-bucket" });

        var database = config.Databases[0];
        Assert.Equal("s3://secret-bucket/app", database.Storage.ToString());
        Assert.Equal("/data/${x}.db", config.Databases[1].Path);
        var described = string.Join("\n", config.Describe());
        Assert.Contains("s3://${BUCKET}/app", described, StringComparison.Ordinal);
        Assert.DoesNotContain("secret-bucket", described, StringComparison.Ordinal);
    }

    [Fact]
    public void LoadFile_EtcdSection_FilesFromTheFilesDirectoryAndThePasswordNeverShown()
    {
        var config = Load(
            """{ "Ferry": { "Meta": "https://127.0.0.1:2379", "Etcd": { "Ca": "certs/ca.pem", "User": "ferry", "Password": "${ETCD_PW}" }, "Databases": [ "/data/a.db" ], "Defaults": { "To": "/b" } } }""",
            new Dictionary<string, string> { ["ETCD_PW"] = "s3cret-pw" });

        Assert.Equal(new FerryEtcdSettings(_dir.File("certs/ca.pem"), null, null, "ferry", "s3cret-pw", null), config.Etcd);
        var described = string.Join("\n", config.Describe()) + config.Etcd!.ToString();
        Assert.Contains("user ferry, password ***", described, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret-pw", described, StringComparison.Ordinal);
    }

    [Fact]
    public void Describe_SaysWhatWouldRun()
    {
        var config = Load("""{ "Ferry": { "StoreId": 2, "Databases": [ { "Path": "/data/a.db", "To": "file:///b", "Retention": "1d", "MaxLag": "5m" } ] } }""");

        var lines = config.Describe();

        Assert.Equal("1 database; store 2, metadata default (FERRY_META, else $FERRY_HOME/meta.db)", lines[0]);
        Assert.Equal("  /data/a.db -> file:///b (task 'a'; flush 1s, retention 24h, grace 10m, retry budget 5m, stall timeout 1m, max lag 5m)", lines[1]);
    }

    [Fact]
    public void Load_ApplicationSection_SameShape()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Logging:LogLevel:Default"] = "Information",
            ["Ferry:StoreId"] = "5",
            ["Ferry:Databases:0:Path"] = "/data/a.db",
            ["Ferry:Databases:0:To"] = "file:///b",
        }).Build();

        var config = FerryConfigurationLoader.Load(configuration.GetSection("Ferry"), "/srv", _ => null);

        Assert.Equal(5, config.StoreId);
        Assert.Equal("a", Assert.Single(config.Databases).Task);
    }

    [Fact]
    public void Load_ApplicationSection_ProblemNamesTheSectionKey()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["App:Ferry:Databases:0:Path"] = "/data/a.db",
        }).Build();

        var error = Assert.Throws<FerryException>(() => FerryConfigurationLoader.Load(configuration.GetSection("App:Ferry"), "/srv", _ => null));

        Assert.StartsWith("App:Ferry:Databases:0: no storage", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{ "Ferry": { "Databases": [ { "Path": "/a.db", "To": "/b", "Retention": "5s" } ] } }""",
        "Ferry:Databases:0:Retention: '5s' must be at least 1m")]
    [InlineData("""{ "Ferry": { "Defaults": { "Retention": "30s" }, "Databases": [ { "Path": "/a.db", "To": "/b" } ] } }""",
        "Ferry:Defaults:Retention: '30s' must be at least 1m")]
    [InlineData("""{ "Ferry": { "Databases": [ { "Path": "/a.db", "To": "/b", "Retention": "1h", "RetentionGrace": "2h" } ] } }""",
        "Ferry:Databases:0:RetentionGrace: '2h' must be between 0 and the retention")]
    [InlineData("""{ "Ferry": { "Databases": [ { "Path": "/a.db", "To": "/b", "FlushInterval": "2h" } ] } }""",
        "Ferry:Databases:0:FlushInterval: '2h' must be between 10ms and 1h")]
    [InlineData("""{ "Ferry": { "Databases": [ { "Path": "/a.db", "To": "/b", "StallTimeout": "soon" } ] } }""",
        "Ferry:Databases:0:StallTimeout: 'soon' is not a duration")]
    [InlineData("""{ "Ferry": { "Databases": [ { "Path": "/a.db", "To": "/b", "AutoResume": "yes" } ] } }""",
        "Ferry:Databases:0:AutoResume: 'yes' is not true or false")]
    [InlineData("""{ "Ferry": { "Databases": [ { "Path": "/a.db", "To": "/b", "Retentoin": "1d" } ] } }""",
        "Ferry:Databases:0:Retentoin: unknown key; the keys here are Path, Task, To, FlushInterval")]
    [InlineData("""{ "Ferry": { "StoreID": 1, "Stor": 2 } }""", "Ferry:Stor: unknown key; the keys here are Meta, StoreId")]
    [InlineData("""{ "Ferry": { "Defaults": { "Path": "/a.db" } } }""", "Ferry:Defaults:Path: unknown key; the keys here are To, FlushInterval")]
    [InlineData("""{ "Ferry": { "Databases": [ { "Path": "/a.db" } ] } }""", "Ferry:Databases:0: no storage: set To here, or Ferry:Defaults:To")]
    [InlineData("""{ "Ferry": { "Databases": [ { "To": "/b" } ] } }""", "Ferry:Databases:0: no Path")]
    [InlineData("""{ "Ferry": { "Databases": [ { "Path": "/a.db", "To": " " } ] } }""", "Ferry:Databases:0:To: is empty")]
    [InlineData("""{ "Ferry": { "Databases": [ { "Path": "/a.db", "To": "ftp://host/x" } ] } }""",
        "Ferry:Databases:0:To: invalid storage URL 'ftp://host/x': scheme 'ftp' is not supported")]
    [InlineData("""{ "Ferry": { "Databases": [ { "Path": "/a.db", "To": "/b" }, { "Path": "/a.db", "To": "/c" } ] } }""",
        "Ferry:Databases:1: /a.db is listed already, as Ferry:Databases:0")]
    [InlineData("""{ "Ferry": { "Databases": [ { "Path": "/x/a.db", "To": "/b" }, { "Path": "/y/a.db", "To": "/c" } ] } }""",
        "Ferry:Databases:1: its task name 'a' (derived from its path) is Ferry:Databases:0's too")]
    [InlineData("""{ "Ferry": { "Databases": [ { "Path": "/a.db", "To": "/b", "Task": "no spaces" } ] } }""",
        "Ferry:Databases:0:Task: invalid task name 'no spaces'")]
    [InlineData("""{ "Ferry": { "Databases": [ { "Path": "/d*/a.db", "To": "/b" } ] } }""",
        "Ferry:Databases:0:Path: '/d*/a.db' has a wildcard in a directory")]
    [InlineData("""{ "Ferry": { "Databases": { "app": { "Path": "/a.db" } } } }""", "Ferry:Databases:app: Databases must be a list")]
    [InlineData("""{ "Ferry": { "Databases": "/a.db" } }""", "Ferry:Databases: must be a list")]
    [InlineData("""{ "Ferry": { "Defaults": "7d" } }""", "Ferry:Defaults: must be an object")]
    [InlineData("""{ "Ferry": { "Etcd": { "Passwd": "x" } } }""", "Ferry:Etcd:Passwd: unknown key; the keys here are Ca, Cert, Key, User, Password, PasswordFile")]
    [InlineData("""{ "Ferry": { "Etcd": "https://x" } }""", "Ferry:Etcd: must be an object")]
    [InlineData("""{ "Ferry": { "StoreId": { "x": 1 } } }""", "Ferry:StoreId: must be a value")]
    [InlineData("""{ "Ferry": { "StoreId": 0 } }""", "Ferry:StoreId: '0' is not a positive integer")]
    [InlineData("""{ "Ferry": { "StoreId": "one" } }""", "Ferry:StoreId: 'one' is not a positive integer")]
    [InlineData("""{ "Ferry": { "Generation": -1 } }""", "Ferry:Generation: '-1' is not 0 or more")]
    [InlineData("""{ "Ferry": { "Takeover": "later" } }""", "Ferry:Takeover: 'later' must be 'now' or 'when-ready'")]
    [InlineData("""{ "Ferry": { "TakeoverTimeout": "2" } }""", "Ferry:TakeoverTimeout: '2' is not a duration")]
    [InlineData("""{ "Ferry": { "Http": "127.0.0.1" } }""", "Ferry:Http: address '127.0.0.1': it has no port")]
    [InlineData("""{ "Ferry": { "Meta": "redis://x:1" } }""", "Ferry:Meta: invalid metadata store URL 'redis://x:1'")]
    [InlineData("""{ "Ferri": { } }""", "unknown key 'Ferri': Ferry's settings go in a \"Ferry\" object")]
    [InlineData("""{ "Ferry": 1 }""", "\"Ferry\" must be an object")]
    [InlineData("""{ "Ferry": { "Databases": [ { "Path": "/a.db", "To": "s3://${BUCKT}/x" } ] } }""",
        "Ferry:Databases:0:To: the environment variable BUCKT is not set (the value is 's3://${BUCKT}/x')")]
    [InlineData("""{ "Ferry": { "Databases": [ { "Path": "/a.db", "To": "s3://${BUCKET/x" } ] } }""",
        "Ferry:Databases:0:To: 's3://${BUCKET/x' has a '${' that does not start a variable")]
    public void LoadFile_Invalid_OneLineNamingTheKey(string json, string expected)
    {
        var error = Fails(json);

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void LoadFile_InvalidJson_NamesTheLine()
    {
        var error = Fails("{\n  \"Ferry\": {\n    \"StoreId\": 1,,\n  }\n}");

        Assert.Contains("ferry.json: invalid JSON at line 3", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void LoadFile_DuplicateKey_IsInvalid()
    {
        var error = Fails("""{ "Ferry": { "StoreId": 1, "StoreId": 2 } }""");

        Assert.Contains("StoreId", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void LoadFile_Missing_NamesTheFile()
    {
        var error = Assert.Throws<FerryException>(() => FerryConfigurationLoader.LoadFile(_dir.File("nope.json")));

        Assert.Equal(ErrorCodes.ConfigInvalid, error.Code);
        Assert.Contains("nope.json: no such configuration file", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void LoadFile_ExpandedValueInvalid_NeverShowsTheExpansion()
    {
        var error = Fails(
            """{ "Ferry": { "Databases": [ { "Path": "/a.db", "To": "${STORAGE}" } ] } }""",
            new Dictionary<string, string> { ["STORAGE"] = "ftp://hunter2@host/x" });

        Assert.Contains("Ferry:Databases:0:To: '${STORAGE}' is not a storage URL once expanded", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", error.InnerException?.Message ?? "", StringComparison.Ordinal);
    }

    [Fact]
    public void LoadFile_CommandLineValueInvalid_SaysWhereItCameFrom()
    {
        var error = Assert.Throws<FerryException>(() => Load("""{ "Ferry": { } }""", commandLine: new Dictionary<string, string> { ["StoreId"] = "0" }));

        Assert.Contains("Ferry:StoreId (from the command line): '0' is not a positive integer", error.Message, StringComparison.Ordinal);
    }
}
