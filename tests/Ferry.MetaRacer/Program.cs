using System.Globalization;
using System.Text;
using System.Text.Json;
using Ferry.Cli.Wiring;
using Ferry.Etcd;
using Ferry.Meta;
using Ferry.TestKit.Meta;

// A second process for the metadata contract suite: args are META-URL KEY COUNT.
// Announces itself under KEY/ready, waits for KEY/go, races, and prints its outcome as JSON.
var (url, key, count) = (args[0], args[1], int.Parse(args[2], CultureInfo.InvariantCulture));
using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
await using var store = await MetaStoreFactory.OpenAsync(MetaUrl.Parse(url), new EtcdConnectionOptions(), deadline.Token);
await store.PutAsync(key + "/ready", Encoding.UTF8.GetBytes("1"), cancellationToken: deadline.Token);
while (await store.GetAsync(key + "/go", deadline.Token) is null)
{
    await Task.Delay(5, deadline.Token);
}

var outcome = await MetaRacer.IncrementAsync(store, key, count, deadline.Token);
Console.WriteLine(JsonSerializer.Serialize(outcome));
