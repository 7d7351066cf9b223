namespace Ferry.TestKit;

public static class RepoRoot
{
    /// <summary>The repository root: the nearest ancestor of the test binaries holding Ferry.sln.</summary>
    public static string Path
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(System.IO.Path.Combine(dir.FullName, "Ferry.sln"))) return dir.FullName;
            }

            throw new InvalidOperationException("Ferry.sln not found above " + AppContext.BaseDirectory);
        }
    }
}
