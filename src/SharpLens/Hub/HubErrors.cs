using System.Net;
using System.Net.Sockets;
using SharpLens.IO;

namespace SharpLens.Hub;

/// <summary>
/// Turns HTTP answers and transport failures of the Hub into one-line <see cref="SharpLensException"/>s
/// (<see cref="ExitCode.Network"/>) that tell the user what to do. <paramref name="endpoint"/> is the endpoint as
/// messages show it: <see cref="Redact"/>ed.
/// </summary>
internal sealed partial class HubErrors(string endpoint, string repoId, string revision, bool hasToken)
{
    const string OfflineHint = "set HF_HUB_OFFLINE=1 to use only models already in the cache";

    /// <summary>The Hub's machine-readable error code (<c>X-Error-Code</c>: RepoNotFound, GatedRepo, RevisionNotFound, EntryNotFound...).</summary>
    public static string? ErrorCode(HttpResponseMessage response) => Header(response, "X-Error-Code");

    /// <summary>A response header's first value, from the response or its content headers.</summary>
    public static string? Header(HttpResponseMessage response, string name)
    {
        if (response.Headers.TryGetValues(name, out var values)) return values.FirstOrDefault();
        if (response.Content.Headers.TryGetValues(name, out values)) return values.FirstOrDefault();
        return null;
    }

    /// <summary>Whether a 404 means "this file does not exist in the repository" (rather than a missing repo or revision);
    /// a 404 without <c>X-Error-Code</c> counts when <paramref name="bare404MeansNoSuchFile"/>.</summary>
    public static bool IsEntryNotFound(HttpResponseMessage response, bool bare404MeansNoSuchFile) =>
        response.StatusCode == HttpStatusCode.NotFound
        && ErrorCode(response) switch { "EntryNotFound" => true, null => bare404MeansNoSuchFile, _ => false };

    /// <summary>The error for a failed HTTP answer about <paramref name="file"/>.</summary>
    public SharpLensException FromResponse(HttpResponseMessage response, string file)
    {
        int status = (int)response.StatusCode;
        string? code = ErrorCode(response);
        string page = $"{endpoint}/{repoId}";
        string message = code switch
        {
            "RepoNotFound" => hasToken
                ? $"model {repoId} not found on {endpoint}, or HF_TOKEN has no access to it (check the id at {page})"
                : $"model {repoId} not found on {endpoint} (check the id; if it is private, set HF_TOKEN to a token with access)",
            "GatedRepo" => GatedMessage(page),
            "RevisionNotFound" => $"revision '{revision}' not found in model {repoId} (check the branch, tag or commit at {page})",
            "EntryNotFound" => $"model {repoId}@{revision} has no file {file}",
            _ => status switch
            {
                401 when !hasToken => $"model {repoId} not found on {endpoint}, or it is private or gated: set HF_TOKEN to a token with access",
                401 or 403 => GatedMessage(page),
                404 => $"not found on {endpoint}: {file} of model {repoId}@{revision} (HTTP 404)",
                429 => $"{endpoint} is rate-limiting downloads (HTTP 429); wait a few minutes{(hasToken ? "" : " or set HF_TOKEN")} and run again",
                _ => $"{endpoint} answered HTTP {status} {response.ReasonPhrase} for {file} of model {repoId}@{revision}",
            },
        };
        string? detail = Header(response, "X-Error-Message");
        if (code is null && !string.IsNullOrWhiteSpace(detail)) message += $" ({UntrustedText.Quote(OneLine(detail))})";
        var error = new SharpLensException(ExitCode.Network, message);
        return code == "RevisionNotFound" ? Gone(error) : error;
    }

    const string GoneKey = "SharpLens.Hub.Gone";

    /// <summary>Marks <paramref name="error"/> as the Hub's word that the revision, or its config.json, does not exist
    /// (any more). huggingface_hub raises such errors even when its cache holds a copy, and so does
    /// <see cref="ModelLocator.Resolve"/>; every other failure falls back to a complete cached snapshot.</summary>
    public static SharpLensException Gone(SharpLensException error)
    {
        error.Data[GoneKey] = true;
        return error;
    }

    /// <summary>Whether <paramref name="error"/> was marked by <see cref="Gone"/>.</summary>
    public static bool IsGone(Exception error) => error.Data.Contains(GoneKey);

    string GatedMessage(string page) => hasToken
        ? $"model {repoId} is gated or private and HF_TOKEN has not been granted access: request it at {page}"
        : $"model {repoId} is gated or private: accept its conditions at {page}, then set HF_TOKEN to a token of that account";

    /// <summary>The error for a request that got no answer: connection refused, DNS failure, TLS failure.</summary>
    public static SharpLensException Unreachable(Uri url, Exception error)
    {
        string reason = Innermost(error) switch
        {
            SocketException { SocketErrorCode: SocketError.ConnectionRefused } => "connection refused",
            SocketException { SocketErrorCode: SocketError.HostNotFound or SocketError.TryAgain or SocketError.NoData } => "host not found",
            var inner => OneLine(inner.Message),
        };
        return new SharpLensException(ExitCode.Network,
            $"cannot reach {url.Host}:{url.Port} ({reason}); check the network and HF_ENDPOINT, or {OfflineHint}", error);
    }

    /// <summary>The error for a request that timed out.</summary>
    public static SharpLensException TimedOut(Uri url, TimeSpan after) =>
        new(ExitCode.Network, $"no answer from {url.Host}:{url.Port} within {Seconds(after)} s; check the network (HF_HUB_ETAG_TIMEOUT and HF_HUB_DOWNLOAD_TIMEOUT allow more), or {OfflineHint}");

    /// <summary>A duration in seconds as the messages print it: 10, 0.3 (whatever the culture).</summary>
    public static string Seconds(TimeSpan t) => t.TotalSeconds.ToString("0.#", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The error for a transfer cut short; the partial data stays for the next attempt.</summary>
    public static SharpLensException Interrupted(string file, long received, long? total, string reason, Exception? inner = null) =>
        new(ExitCode.Network,
            $"download of {file} interrupted after {received} of {(total is { } t ? t.ToString() : "?")} bytes ({OneLine(reason)}); run again to resume",
            inner);

    /// <summary>Collapses a message to one line, with its control characters escaped (it may quote what a server sent).</summary>
    public static string OneLine(string text) =>
        UntrustedText.Escape(string.Join(' ', text.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries)).Trim());

    /// <summary>A URL as messages show it: credentials in it (<c>http://user:pass@host</c>, from HF_ENDPOINT or a redirect)
    /// replaced by <c>***</c>, control characters escaped.</summary>
    public static string Redact(string url) => UntrustedText.Escape(UserInfoPattern().Replace(url, "//***@"));

    [System.Text.RegularExpressions.GeneratedRegex("//[^/?#]*@")]
    private static partial System.Text.RegularExpressions.Regex UserInfoPattern();

    static Exception Innermost(Exception e)
    {
        while (e.InnerException is not null) e = e.InnerException;
        return e;
    }
}
