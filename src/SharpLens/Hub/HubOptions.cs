namespace SharpLens.Hub;

/// <summary>
/// Where and how to reach the Hugging Face Hub, with the same meaning as the environment variables
/// of huggingface_hub so that both share one cache.
/// </summary>
/// <param name="Endpoint">Base URL of the Hub (HF_ENDPOINT); null means <see cref="DefaultEndpoint"/>.</param>
/// <param name="Token">Access token sent as <c>Authorization: Bearer</c> to the Hub; null for anonymous access.</param>
/// <param name="CacheDir">The hub cache directory holding <c>models--org--name</c> folders.</param>
/// <param name="Offline">When true (HF_HUB_OFFLINE=1) nothing is downloaded: models come from the cache only.</param>
public sealed record HubOptions(string? Endpoint, string? Token, string CacheDir, bool Offline)
{
    /// <summary>The public Hub, used when no endpoint is configured.</summary>
    public const string DefaultEndpoint = "https://huggingface.co";

    /// <summary>huggingface_hub's default for both of its timeouts.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Longest timeout accepted: a day.</summary>
    public static readonly TimeSpan MaxTimeout = TimeSpan.FromDays(1);

    /// <summary>How long a metadata (HEAD) request may go unanswered, connecting included (HF_HUB_ETAG_TIMEOUT). Every run
    /// of a branch or tag makes one, so a slow link may want more than the default 10 s.</summary>
    /// <exception cref="SharpLensException">(<see cref="ExitCode.Usage"/>) outside (0, <see cref="MaxTimeout"/>].</exception>
    public TimeSpan EtagTimeout
    {
        get => etagTimeout;
        init => etagTimeout = Checked(value, nameof(EtagTimeout));
    }
    readonly TimeSpan etagTimeout = DefaultTimeout;

    /// <summary>How long a download request may go unanswered (HF_HUB_DOWNLOAD_TIMEOUT); null means 10 s. In the middle
    /// of a transfer a download may go without data for the larger of this and 60 s.</summary>
    /// <exception cref="SharpLensException">(<see cref="ExitCode.Usage"/>) outside (0, <see cref="MaxTimeout"/>].</exception>
    public TimeSpan? DownloadTimeout
    {
        get => downloadTimeout;
        init => downloadTimeout = value is { } t ? Checked(t, nameof(DownloadTimeout)) : null;
    }
    readonly TimeSpan? downloadTimeout;

    static TimeSpan Checked(TimeSpan value, string name) =>
        value > TimeSpan.Zero && value <= MaxTimeout
            ? value
            : throw SharpLensException.Usage($"{name} must be more than 0 and at most a day, got {value}");

    /// <summary>The endpoint to use, without a trailing slash.</summary>
    public string EffectiveEndpoint =>
        string.IsNullOrWhiteSpace(Endpoint) ? DefaultEndpoint : Endpoint.Trim().TrimEnd('/');

    /// <summary>Reads the options from the process environment; see <see cref="FromEnvironment(Func{string, string?})"/>.</summary>
    public static HubOptions FromEnvironment() => FromEnvironment(Environment.GetEnvironmentVariable);

    /// <summary>
    /// Reads the options through <paramref name="getVariable"/> the way huggingface_hub does:
    /// endpoint from HF_ENDPOINT (default https://huggingface.co); token from HF_TOKEN, else the legacy
    /// HUGGING_FACE_HUB_TOKEN, else the file written by <c>huggingface-cli login</c> (HF_TOKEN_PATH, default
    /// HF_HOME/token); offline when HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is 1, ON, YES or TRUE; cache from HF_HUB_CACHE, else the
    /// legacy HUGGINGFACE_HUB_CACHE, else HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else
    /// ~/.cache/huggingface/hub; timeouts in seconds from HF_HUB_ETAG_TIMEOUT and HF_HUB_DOWNLOAD_TIMEOUT.
    /// </summary>
    /// <exception cref="SharpLensException">(<see cref="ExitCode.Usage"/>) when a timeout is not a number of seconds in (0, 86400].</exception>
    public static HubOptions FromEnvironment(Func<string, string?> getVariable)
    {
        string? Get(string name)
        {
            string? value = getVariable(name);
            return string.IsNullOrWhiteSpace(value) ? null : value.Trim();
        }

        string home = Get("HOME") ?? Get("USERPROFILE") ?? Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        string Expand(string path) =>
            path == "~" ? home
            : path.StartsWith("~/", StringComparison.Ordinal) || path.StartsWith("~\\", StringComparison.Ordinal)
                ? Path.Combine(home, path[2..])
                : path;

        string hfHome = Expand(Get("HF_HOME")
            ?? Path.Combine(Get("XDG_CACHE_HOME") is { } xdg ? Expand(xdg) : Path.Combine(home, ".cache"), "huggingface"));
        string cache = Expand(Get("HF_HUB_CACHE") ?? Get("HUGGINGFACE_HUB_CACHE") ?? Path.Combine(hfHome, "hub"));

        string? token = Get("HF_TOKEN") ?? Get("HUGGING_FACE_HUB_TOKEN")
            ?? ReadStoredToken(Expand(Get("HF_TOKEN_PATH") ?? Path.Combine(hfHome, "token")));

        string? endpoint = Get("HF_ENDPOINT")?.TrimEnd('/');
        bool offline = IsTrue(Get("HF_HUB_OFFLINE")) || IsTrue(Get("TRANSFORMERS_OFFLINE"));  // as huggingface_hub reads them
        TimeSpan? Seconds(string name)
        {
            if (Get(name) is not { } value) return null;
            if (!double.TryParse(value, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double s)
                || !(s > 0) || s > MaxTimeout.TotalSeconds)
                throw SharpLensException.Usage($"{name}='{value}' is not a number of seconds between 0 and 86400");
            return TimeSpan.FromSeconds(s);
        }

        return new HubOptions(endpoint ?? DefaultEndpoint, token, cache, offline)
        {
            EtagTimeout = Seconds("HF_HUB_ETAG_TIMEOUT") ?? DefaultTimeout,
            DownloadTimeout = Seconds("HF_HUB_DOWNLOAD_TIMEOUT"),
        };
    }

    /// <summary>huggingface_hub's reading of boolean variables: 1, ON, YES, TRUE in any case.</summary>
    internal static bool IsTrue(string? value) =>
        value is not null && value.Trim().ToUpperInvariant() is "1" or "ON" or "YES" or "TRUE";

    static string? ReadStoredToken(string path)
    {
        try
        {
            if (!File.Exists(path)) return null;
            string token = File.ReadAllText(path).Trim();
            return token.Length == 0 ? null : token;
        }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    /// <summary>Hides the token, and credentials in the endpoint, when options are printed or logged.</summary>
    public override string ToString() =>
        $"HubOptions {{ Endpoint = {HubErrors.Redact(EffectiveEndpoint)}, Token = {(Token is null ? "none" : "***")}, CacheDir = {CacheDir}, Offline = {Offline} }}";
}
