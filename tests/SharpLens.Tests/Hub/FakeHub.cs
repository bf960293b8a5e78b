using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Hub;

/// <summary>
/// A loopback stand-in for huggingface.co, written on a raw <see cref="TcpListener"/> (127.0.0.1, free port,
/// one request per connection) so tests control every byte: <c>/{org}/{name}/resolve/{revision}/{file}</c>
/// answers like the Hub (X-Repo-Commit, ETag = git blob id, X-Error-Code on errors) and redirects
/// <c>.safetensors</c> files (302, X-Linked-Etag = sha256, X-Linked-Size) to <c>/cdn-lfs/{sha256}</c>, which
/// honours <c>Range: bytes=N-</c>. Switches let a test cut a transfer short, corrupt it or ignore Range.
/// </summary>
public sealed class FakeHub : IDisposable
{
    /// <summary>One request as received.</summary>
    public sealed record Request(string Method, string Path, IReadOnlyDictionary<string, string> Headers)
    {
        public string? Header(string name) => Headers.TryGetValue(name.ToLowerInvariant(), out var v) ? v : null;
    }

    /// <summary>A repository: its commits (files per commit) and branch names.</summary>
    public sealed class Repo
    {
        public Dictionary<string, Dictionary<string, byte[]>> Commits { get; } = new();
        public Dictionary<string, string> Branches { get; } = new();
        /// <summary>When set, the repo is gated: only <c>Authorization: Bearer {Token}</c> gets in.</summary>
        public string? Token { get; set; }
    }

    readonly TcpListener listener;
    readonly CancellationTokenSource stop = new();
    readonly ConcurrentDictionary<string, Repo> repos = new();
    readonly ConcurrentQueue<Request> requests = new();
    readonly Task acceptLoop;

    public FakeHub()
    {
        listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        Port = ((IPEndPoint)listener.LocalEndpoint).Port;
        acceptLoop = Task.Run(AcceptLoopAsync);
    }

    public int Port { get; }
    public string Endpoint => $"http://127.0.0.1:{Port}";
    public IReadOnlyList<Request> Requests => requests.ToArray();
    public void ClearRequests() => requests.Clear();

    /// <summary>The next CDN (LFS) body stops after this many bytes and the connection is closed.</summary>
    public int? CutNextCdnBodyAfter { get; set; }
    /// <summary>Every later CDN body (after the one <see cref="CutNextCdnBodyAfter"/> cuts) stops after this many bytes.</summary>
    public int? CutCdnBodiesAfter { get; set; }
    /// <summary>Every CDN body has one byte flipped.</summary>
    public bool CorruptCdnBodies { get; set; }
    /// <summary>The CDN answers 200 with the whole file even when asked for a range.</summary>
    public bool IgnoreRange { get; set; }
    /// <summary>Every small (non-LFS) file body has one byte flipped; its ETag stays the true git blob id.</summary>
    public bool CorruptSmallBodies { get; set; }
    /// <summary>How long every HEAD request waits before it is answered (a slow link or an overloaded Hub).</summary>
    public TimeSpan HeadDelay { get; set; }
    /// <summary>How long every CDN (LFS) GET waits before it is answered.</summary>
    public TimeSpan CdnDelay { get; set; }
    /// <summary>Files answered with a bare 404 (no X-Error-Code), as a proxy or a plain mirror would.</summary>
    public HashSet<string> Bare404Files { get; } = new();
    /// <summary>Files answered with this status and <c>X-Error-Message</c> (no X-Error-Code), as a failing server would.</summary>
    public Dictionary<string, (int Status, string Message)> FailingFiles { get; } = new();
    /// <summary>When set, the size the HEAD of every LFS file announces (X-Linked-Size), whatever the file holds.</summary>
    public long? AnnouncedLfsSize { get; set; }
    /// <summary>Bytes the CDN sends after each LFS body (its Content-Length includes them; the announced size does not).</summary>
    public int CdnExtraBytes { get; set; }
    /// <summary>When set, where the HEAD of every LFS file redirects to instead of the CDN.</summary>
    public string? LfsRedirect { get; set; }
    /// <summary>When set, the ETag of every small (non-LFS) file instead of its git blob id.</summary>
    public string? SmallFileEtag { get; set; }

    /// <summary>The six files of the tiny-qwen2 checkpoint, as a Hub repository would hold them.</summary>
    public static Dictionary<string, byte[]> TinyQwenFiles()
    {
        string dir = Fixtures.Dir("tiny-qwen2");
        string[] names =
        [
            "config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors.index.json",
            "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
        ];
        return names.ToDictionary(n => n, n => File.ReadAllBytes(Path.Combine(dir, n)));
    }

    /// <summary>Adds a repo whose branch <c>main</c> points to <paramref name="commit"/> holding <paramref name="files"/>.</summary>
    public Repo AddRepo(string id, Dictionary<string, byte[]> files, string commit)
    {
        var repo = repos.GetOrAdd(id, _ => new Repo());
        repo.Commits[commit] = files;
        repo.Branches["main"] = commit;
        return repo;
    }

    public static string GitBlobId(byte[] content)
    {
        byte[] header = Encoding.ASCII.GetBytes($"blob {content.Length}\0");
        return Convert.ToHexStringLower(SHA1.HashData([.. header, .. content]));
    }

    public static string Sha256(byte[] content) => Convert.ToHexStringLower(SHA256.HashData(content));

    static bool IsLfs(string file) => file.EndsWith(".safetensors", StringComparison.Ordinal);

    async Task AcceptLoopAsync()
    {
        while (!stop.IsCancellationRequested)
        {
            TcpClient client;
            try { client = await listener.AcceptTcpClientAsync(stop.Token); }
            catch (Exception) { return; }
            _ = Task.Run(() => HandleAsync(client));
        }
    }

    async Task HandleAsync(TcpClient client)
    {
        using (client)
        {
            try
            {
                client.ReceiveTimeout = 5000;
                client.SendTimeout = 5000;
                var stream = client.GetStream();
                var request = await ReadRequestAsync(stream);
                if (request is null) return;
                requests.Enqueue(request);
                await AnswerAsync(stream, request);
            }
            catch (IOException) { /* the client went away */ }
            catch (SocketException) { }
            catch (ObjectDisposedException) { }
        }
    }

    static async Task<Request?> ReadRequestAsync(NetworkStream stream)
    {
        var head = new List<byte>();
        var one = new byte[1];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        while (head.Count < 64 * 1024)
        {
            if (await stream.ReadAsync(one, timeout.Token) == 0) return null;
            head.Add(one[0]);
            int n = head.Count;
            if (n >= 4 && head[n - 4] == '\r' && head[n - 3] == '\n' && head[n - 2] == '\r' && head[n - 1] == '\n') break;
        }
        string[] lines = Encoding.ASCII.GetString(head.ToArray()).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        string[] first = lines[0].Split(' ');
        var headers = new Dictionary<string, string>();
        foreach (string line in lines.Skip(1))
        {
            int colon = line.IndexOf(':');
            if (colon > 0) headers[line[..colon].Trim().ToLowerInvariant()] = line[(colon + 1)..].Trim();
        }
        return new Request(first[0], first[1], headers);
    }

    async Task AnswerAsync(NetworkStream stream, Request request)
    {
        bool isHead = request.Method == "HEAD";
        if (isHead && HeadDelay > TimeSpan.Zero) await Task.Delay(HeadDelay, stop.Token);
        string path = request.Path.Split('?')[0];
        string[] parts = path.TrimStart('/').Split('/');

        if (parts.Length == 2 && parts[0] == "cdn-lfs")
        {
            if (!isHead && CdnDelay > TimeSpan.Zero) await Task.Delay(CdnDelay, stop.Token);
            await AnswerCdnAsync(stream, request, parts[1], isHead);
            return;
        }
        if (parts.Length < 5 || parts[2] != "resolve")
        {
            await WriteAsync(stream, 404, "Not Found", [], [], isHead);
            return;
        }
        string repoId = $"{parts[0]}/{parts[1]}";
        string revision = Uri.UnescapeDataString(parts[3]);
        string file = string.Join('/', parts.Skip(4).Select(Uri.UnescapeDataString));

        if (!repos.TryGetValue(repoId, out var repo))
        {
            await WriteAsync(stream, 404, "Not Found", [("X-Error-Code", "RepoNotFound"), ("X-Error-Message", "Repository not found")], [], isHead);
            return;
        }
        if (repo.Token is not null && request.Header("Authorization") != $"Bearer {repo.Token}")
        {
            await WriteAsync(stream, 401, "Unauthorized",
                [("X-Error-Code", "GatedRepo"), ("X-Error-Message", $"Access to model {repoId} is restricted. You must have access to it and be authenticated to access it. Please log in.")],
                [], isHead);
            return;
        }
        string? commit = repo.Branches.TryGetValue(revision, out var c) ? c : repo.Commits.ContainsKey(revision) ? revision : null;
        if (commit is null)
        {
            await WriteAsync(stream, 404, "Not Found", [("X-Error-Code", "RevisionNotFound"), ("X-Error-Message", $"Invalid rev id: {revision}")], [], isHead);
            return;
        }
        if (Bare404Files.Contains(file))
        {
            await WriteAsync(stream, 404, "Not Found", [], [], isHead);
            return;
        }
        if (FailingFiles.TryGetValue(file, out var failure))
        {
            await WriteAsync(stream, failure.Status, "Failed", [("X-Error-Message", failure.Message)], [], isHead);
            return;
        }
        if (!repo.Commits[commit].TryGetValue(file, out var content))
        {
            await WriteAsync(stream, 404, "Not Found",
                [("X-Error-Code", "EntryNotFound"), ("X-Error-Message", "Entry not found"), ("X-Repo-Commit", commit)], [], isHead);
            return;
        }
        if (IsLfs(file))
        {
            string sha = Sha256(content);
            byte[] pointer = Encoding.ASCII.GetBytes($"version https://git-lfs.github.com/spec/v1\noid sha256:{sha}\nsize {content.Length}\n");
            await WriteAsync(stream, 302, "Found",
            [
                ("Location", LfsRedirect ?? $"{Endpoint}/cdn-lfs/{sha}?response-content-disposition=attachment"),
                ("X-Repo-Commit", commit), ("ETag", $"\"{GitBlobId(pointer)}\""),
                ("X-Linked-Etag", $"\"{sha}\""), ("X-Linked-Size", (AnnouncedLfsSize ?? content.Length).ToString()),
            ], [], isHead);
            return;
        }
        string blobId = GitBlobId(content);
        if (CorruptSmallBodies)
        {
            content = (byte[])content.Clone();
            content[content.Length / 2] ^= 0xFF;
        }
        await WriteAsync(stream, 200, "OK",
            [("X-Repo-Commit", commit), ("ETag", $"\"{SmallFileEtag ?? blobId}\""), ("Content-Type", "application/octet-stream")],
            content, isHead);
    }

    async Task AnswerCdnAsync(NetworkStream stream, Request request, string sha, bool isHead)
    {
        byte[]? content = repos.Values.SelectMany(r => r.Commits.Values).SelectMany(f => f.Values).FirstOrDefault(b => IsLfsBlob(b, sha));
        if (content is null)
        {
            await WriteAsync(stream, 404, "Not Found", [], [], isHead);
            return;
        }
        if (CorruptCdnBodies)
        {
            content = (byte[])content.Clone();
            content[content.Length / 2] ^= 0xFF;
        }
        int? cut = CutNextCdnBodyAfter ?? CutCdnBodiesAfter;
        CutNextCdnBodyAfter = null;
        if (CdnExtraBytes > 0) content = [.. content, .. new byte[CdnExtraBytes]];

        string? range = request.Header("Range");
        if (range is not null && !IgnoreRange && range.StartsWith("bytes=") && range.EndsWith('-'))
        {
            long from = long.Parse(range["bytes=".Length..^1]);
            if (from >= content.Length)
            {
                await WriteAsync(stream, 416, "Range Not Satisfiable", [("Content-Range", $"bytes */{content.Length}")], [], isHead);
                return;
            }
            await WriteAsync(stream, 206, "Partial Content",
                [("Content-Range", $"bytes {from}-{content.Length - 1}/{content.Length}"), ("ETag", $"\"{sha}\"")],
                content[(int)from..], isHead, cut);
            return;
        }
        await WriteAsync(stream, 200, "OK", [("ETag", $"\"{sha}\""), ("Accept-Ranges", "bytes")], content, isHead, cut);
    }

    static bool IsLfsBlob(byte[] bytes, string sha) => Sha256(bytes) == sha;

    static async Task WriteAsync(NetworkStream stream, int status, string reason, (string Name, string Value)[] headers,
        byte[] body, bool isHead, int? cutAfter = null)
    {
        var head = new StringBuilder($"HTTP/1.1 {status} {reason}\r\n");
        foreach (var (name, value) in headers) head.Append($"{name}: {value}\r\n");
        head.Append($"Content-Length: {body.Length}\r\nConnection: close\r\n\r\n");
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head.ToString()));
        if (!isHead) await stream.WriteAsync(body.AsMemory(0, Math.Min(body.Length, cutAfter ?? body.Length)));
        await stream.FlushAsync();
    }

    public void Dispose()
    {
        stop.Cancel();
        listener.Stop();
        try { acceptLoop.Wait(TimeSpan.FromSeconds(2)); } catch (AggregateException) { }
        stop.Dispose();
    }
}
