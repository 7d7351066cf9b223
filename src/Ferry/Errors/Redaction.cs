namespace Ferry.Errors;

/// <summary>Keeps credentials out of messages: every place that shows user input that may hold one goes through here.</summary>
internal static class Redaction
{
    /// <summary>
    /// <paramref name="url"/> fit for a message: after <c>scheme://</c>, the user information (up to the last '@') and a
    /// query string or fragment (from the first '?' or '#', e.g. a signature) become <c>***</c>; text without <c>://</c> is
    /// returned as it is. The one redaction of URLs a user gives (storage, <c>--meta</c>, command-line tokens), made for
    /// malformed input, which is when a URL is shown at all.
    /// </summary>
    public static string Url(string url)
    {
        ArgumentNullException.ThrowIfNull(url);
        var scheme = url.IndexOf("://", StringComparison.Ordinal);
        if (scheme < 0) return url;
        var start = scheme + "://".Length;
        // No URL has an '@' before "://": whatever precedes one there is hidden too.
        var head = url[..start];
        var early = head.LastIndexOf('@');
        if (early >= 0) head = "***" + head[early..];

        // The last '@', not the first: a password may hold '/', '?' or a space when the URL is malformed.
        var at = url.LastIndexOf('@');
        var query = url.IndexOfAny(['?', '#'], start);
        // A '?' before the last '@' is in the password, or the '@' in the query: either way, hide all of it.
        if (query >= 0 && query < at) return head + "***";
        var host = at >= start ? at + 1 : start;
        var end = query >= 0 ? query : url.Length;
        return head + (at >= start ? "***@" : "") + url[host..end] + (query >= 0 ? url[query] + "***" : "");
    }
}
