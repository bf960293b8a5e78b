using System.IO.MemoryMappedFiles;
using System.Text.Json;
using SharpLens.IO;

namespace SharpLens.Loading;

/// <summary>One tensor of a safetensors file: where its bytes are and how to read them.</summary>
public sealed record TensorEntry(string Name, DType DType, long[] Shape, long Begin, long End, string File)
{
    /// <summary>A safetensors dtype the forward pass cannot read (BOOL, U8, I64, F64, …), or null: such a tensor is kept
    /// only so that a family adapter can skip it (GPT-2's causal-mask buffers come as F32, BOOL or U8); <see cref="DType"/>
    /// means nothing then, and reading it is a checkpoint error.</summary>
    public string? Unreadable { get; init; }

    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);
    public string ShapeText => "[" + string.Join(", ", Shape) + "]";
}

/// <summary>
/// A memory-mapped <c>.safetensors</c> file: 8-byte little-endian header length, a JSON header
/// (<c>{name: {dtype, shape, data_offsets}}</c>), then the data. Nothing is copied: tensors are views into
/// the mapping, so a 3.7 GB checkpoint costs 3.7 GB of page cache and no private memory.
/// Everything is validated before use; each failure is one <see cref="SharpLensException"/> naming the file.
/// </summary>
public sealed unsafe class SafeTensorsFile : IDisposable
{
    /// <summary>Headers larger than this are refused (real ones are well under 1 MB).</summary>
    const long MaxHeaderBytes = 100L << 20;

    readonly MemoryMappedFile? _map;
    readonly MemoryMappedViewAccessor? _view;
    readonly byte* _base;
    readonly long _dataStart;

    public string Path { get; }
    public IReadOnlyDictionary<string, TensorEntry> Entries { get; }

    SafeTensorsFile(string path, Dictionary<string, TensorEntry> entries, MemoryMappedFile? map, MemoryMappedViewAccessor? view, long dataStart)
    {
        Path = path; Entries = entries; _map = map; _view = view; _dataStart = dataStart;
        if (view != null)
        {
            byte* p = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
            _base = p + view.PointerOffset;
        }
    }

    public static SafeTensorsFile Open(string path)
    {
        if (!File.Exists(path)) throw SharpLensException.Checkpoint($"{path}: missing");
        IO.RegularFile.Require(path, path, ExitCode.Checkpoint); // a FIFO would block the open below
        // Sizes come from the opened stream: a Hugging Face cache links snapshot files to blobs, and FileInfo.Length
        // of a symbolic link is the link's own size.
        long length, headerLen;
        byte[] header;
        using (var fs = File.OpenRead(path))
        {
            length = fs.Length;
            if (length < 8) throw SharpLensException.Checkpoint($"{path}: truncated ({length} bytes; a safetensors file starts with an 8-byte header length)");
            byte[] lenBytes = new byte[8];
            fs.ReadExactly(lenBytes);
            ulong declared = BitConverter.ToUInt64(lenBytes);  // u64 in the format: never shown as a negative number
            if (declared > (ulong)MaxHeaderBytes)
                throw SharpLensException.Checkpoint(
                    $"{path}: header length {declared} bytes is over the limit of {MaxHeaderBytes} bytes ({MaxHeaderBytes >> 20} MB) " +
                    "that SharpLens reads (real headers are well under 1 MB): damaged or not a safetensors file");
            if (declared == 0 || 8 + (long)declared > length)
                throw SharpLensException.Checkpoint(
                    $"{path}: header length {declared} does not fit the file ({length} bytes): truncated or not a safetensors file");
            headerLen = (long)declared;
            header = new byte[headerLen];
            fs.ReadExactly(header);
        }
        long dataLen = length - 8 - headerLen;
        var entries = ParseHeader(header, dataLen, path);
        if (dataLen == 0) return new SafeTensorsFile(path, entries, null, null, 8 + headerLen);
        var map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        var view = map.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
        return new SafeTensorsFile(path, entries, map, view, 8 + headerLen);
    }

    /// <summary>Parses and validates a header against the size of the data section that follows it.</summary>
    public static Dictionary<string, TensorEntry> ParseHeader(ReadOnlySpan<byte> header, long dataLen, string path)
    {
        if (!System.Text.Unicode.Utf8.IsValid(header))
            throw SharpLensException.Checkpoint($"{path}: header is not valid UTF-8: damaged or not a safetensors file");
        JsonElement root;
        try { root = JsonDocument.Parse(header.ToArray()).RootElement; }
        catch (JsonException e) { throw SharpLensException.Checkpoint($"{path}: header is not valid JSON ({UntrustedText.Quote(e.Message)})"); }
        if (root.ValueKind != JsonValueKind.Object) throw SharpLensException.Checkpoint($"{path}: header is not a JSON object");
        var entries = new Dictionary<string, TensorEntry>();
        try
        {
            foreach (var p in root.EnumerateObject())
            {
                if (p.Name == "__metadata__") continue;
                // JSON allows a repeated key; which of two entries a reader keeps is arbitrary, so neither is trusted.
                if (!entries.TryAdd(p.Name, ParseEntry(p.Name, p.Value, dataLen, path)))
                    throw SharpLensException.Checkpoint($"{path}: tensor {UntrustedText.Quote(p.Name)} is listed twice in the header: damaged file");
            }
        }
        catch (InvalidOperationException) // a string escape that is not valid Unicode (e.g. a lone "\ud800")
        {
            throw SharpLensException.Checkpoint($"{path}: header holds a string that is not valid Unicode: damaged file");
        }
        TensorEntry? previous = null;
        foreach (var e in entries.Values.Where(e => e.End > e.Begin).OrderBy(e => e.Begin))
        {
            if (previous != null && e.Begin < previous.End)
                throw SharpLensException.Checkpoint(
                    $"{path}: tensors {UntrustedText.Quote(previous.Name)} and {UntrustedText.Quote(e.Name)} overlap in the data section");
            if (previous == null || e.End > previous.End) previous = e;
        }
        return entries;
    }

    static TensorEntry ParseEntry(string name, JsonElement e, long dataLen, string path)
    {
        string Bad(string what) => $"{path}: tensor {UntrustedText.Quote(name)}: {what}";
        if (e.ValueKind != JsonValueKind.Object) throw SharpLensException.Checkpoint(Bad("entry is not an object"));
        if (!e.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String)
            throw SharpLensException.Checkpoint(Bad("no dtype"));
        string dtName = dt.GetString()!;
        string unsupported = $"dtype {UntrustedText.Quote(dtName, 40)} is not supported (supported: BF16, F16, F32)";
        DType? readable = DTypes.Parse(dtName);
        int size = readable is { } rd ? DTypes.Size(rd) : DTypes.StorageSize(dtName) ?? throw SharpLensException.Checkpoint(Bad(unsupported));
        if (!e.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array)
            throw SharpLensException.Checkpoint(Bad("no shape"));
        var shape = new long[sh.GetArrayLength()];
        int i = 0;
        foreach (var s in sh.EnumerateArray())
        {
            if (s.ValueKind != JsonValueKind.Number || !s.TryGetInt64(out long v) || v < 0 || v > int.MaxValue)
                throw SharpLensException.Checkpoint(Bad($"invalid shape {UntrustedText.Quote(sh.GetRawText(), 80)}"));
            shape[i++] = v;
        }
        if (!e.TryGetProperty("data_offsets", out var off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2
            || off[0].ValueKind != JsonValueKind.Number || off[1].ValueKind != JsonValueKind.Number
            || !off[0].TryGetInt64(out long begin) || !off[1].TryGetInt64(out long end))
            throw SharpLensException.Checkpoint(Bad("data_offsets must be [begin, end]"));
        if (begin < 0 || end < begin || end > dataLen)
            throw SharpLensException.Checkpoint(Bad($"data_offsets [{begin}, {end}] lie outside the data section ({dataLen} bytes): truncated file or lying header"));
        var entry = new TensorEntry(name, readable ?? DType.F32, shape, begin, end, path) { Unreadable = readable == null ? dtName : null };
        long expect;
        try { expect = checked(entry.ElementCount * size); }
        catch (OverflowException) { throw SharpLensException.Checkpoint(Bad($"shape {entry.ShapeText} is too large")); }
        if (end - begin != expect)
            throw SharpLensException.Checkpoint(Bad(readable == null ? unsupported   // the likelier story: a dtype edited or mistaken
                : $"{dtName} × {entry.ShapeText} needs {expect} bytes but data_offsets span {end - begin}"));
        return entry;
    }

    /// <summary>Address of the first byte of a tensor's data (valid while this file is open).</summary>
    public nint DataPointer(TensorEntry e) => (nint)(_base + _dataStart + e.Begin);

    public void Dispose()
    {
        if (_view != null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
        }
        _map?.Dispose();
    }
}
