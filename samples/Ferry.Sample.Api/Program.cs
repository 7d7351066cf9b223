using Ferry.Hosting;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Data.Sqlite;

// A minimal API that writes to SQLite and backs it up continuously with Ferry, in the same process.
var builder = WebApplication.CreateBuilder(args);

var database = Path.GetFullPath(builder.Configuration["Sample:Database"] ?? "data/app.db");
Directory.CreateDirectory(Path.GetDirectoryName(database)!);
var connectionString = new SqliteConnectionStringBuilder { DataSource = database }.ToString();
using (var setup = new SqliteConnection(connectionString))
{
    setup.Open();
    using var command = setup.CreateCommand();
    // WAL mode is what Ferry replicates (and stays set in the file); the table is the sample's own.
    command.CommandText = """
        PRAGMA journal_mode = WAL;
        CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, created_at TEXT NOT NULL);
        """;
    command.ExecuteNonQuery();
}

builder.Services.AddFerry(builder.Configuration.GetSection("Ferry"));
builder.Services.AddHealthChecks().AddFerry();

var app = builder.Build();

app.MapPost("/items", async (NewItem item, CancellationToken cancellationToken) =>
{
    if (string.IsNullOrWhiteSpace(item.Name)) return Results.BadRequest(new { error = "name is required" });
    await using var connection = new SqliteConnection(connectionString);
    await connection.OpenAsync(cancellationToken);
    await using var insert = connection.CreateCommand();
    insert.CommandText = "INSERT INTO items (name, created_at) VALUES ($name, $at) RETURNING id";
    insert.Parameters.AddWithValue("$name", item.Name);
    insert.Parameters.AddWithValue("$at", DateTimeOffset.UtcNow.ToString("O"));
    var id = (long)(await insert.ExecuteScalarAsync(cancellationToken))!;
    return Results.Created($"/items/{id}", new { id });
});

app.MapGet("/items", async (CancellationToken cancellationToken) =>
{
    await using var connection = new SqliteConnection(connectionString);
    await connection.OpenAsync(cancellationToken);
    await using var count = connection.CreateCommand();
    count.CommandText = "SELECT count(*) FROM items";
    return Results.Ok(new { count = (long)(await count.ExecuteScalarAsync(cancellationToken))! });
});

// Healthy while Ferry ships, Degraded while it retries, Unhealthy (503) when a task is paused by an error; the body
// says which task, the error code and what to do.
app.MapHealthChecks("/health", new HealthCheckOptions { ResponseWriter = FerryHealthChecks.WriteResponseAsync });

app.Run();

internal sealed record NewItem(string Name);
