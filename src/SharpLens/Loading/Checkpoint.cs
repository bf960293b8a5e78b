using System.Runtime.InteropServices;
using System.Text.Json;
using SharpLens.IO;

namespace SharpLens.Loading;

/// <summary>
/// A Hugging Face model directory opened for reading: <c>config.json</c> plus either <c>model.safetensors</c>
/// or <c>model.safetensors.index.json</c> and the shards it names. Every tensor the config implies is checked for
/// presence, dtype and shape before anything runs; tensors stay memory-mapped in their stored dtype.
/// </summary>
public sealed unsafe class Checkpoint : IDisposable
{
    readonly List<SafeTensorsFile> _files = [];
    /// <summary>64-byte aligned buffers of weights copied at load (<see cref="InOutMatrix"/>), freed by <see cref="Dispose"/>.</summary>
    readonly List<nint> _owned = [];
    readonly Dictionary<string, (SafeTensorsFile File, TensorEntry Entry)> _tensors = new();

    public string Directory { get; }
    public ModelConfig Config { get; }

    Checkpoint(string dir, ModelConfig config) { Directory = dir; Config = config; }

    public static Checkpoint Open(string dir)
    {
        if (!System.IO.Directory.Exists(dir)) throw SharpLensException.Checkpoint($"{dir}: no such model directory");
        var ckpt = new Checkpoint(dir, ModelConfig.Load(dir));
        try
        {
            foreach (var shard in ShardFiles(dir))
            {
                var f = SafeTensorsFile.Open(shard.Path);
                ckpt._files.Add(f);
                foreach (var e in f.Entries.Values)
                {
                    if (shard.Expected != null && !shard.Expected.Contains(e.Name)) continue; // the index assigns it elsewhere
                    if (!ckpt._tensors.TryAdd(e.Name, (f, e)))
                        throw SharpLensException.Checkpoint($"{shard.Path}: tensor {UntrustedText.Quote(e.Name)} is also in {ckpt._tensors[e.Name].File.Path}");
                }
                foreach (var name in shard.Expected ?? [])
                    if (!f.Entries.ContainsKey(name))
                        throw SharpLensException.Checkpoint($"{shard.Path}: the index says it holds {UntrustedText.Quote(name)}, but it does not");
            }
            ckpt.ValidateTensorSet();
            ckpt.Config.EnsureFinite(Path.Combine(dir, "config.json"));
            return ckpt;
        }
        catch
        {
            ckpt.Dispose();
            throw;
        }
    }

    /// <summary>The safetensors files of a model directory, with the tensor names the index assigns to each.</summary>
    static IEnumerable<(string Path, HashSet<string>? Expected)> ShardFiles(string dir)
    {
        string single = Path.Combine(dir, "model.safetensors"), index = Path.Combine(dir, "model.safetensors.index.json");
        if (File.Exists(single)) return [(single, null)];
        if (!File.Exists(index))
            throw SharpLensException.Checkpoint($"{dir}: no model.safetensors and no model.safetensors.index.json");
        JsonElement map;
        IO.RegularFile.Require(index, index, ExitCode.Checkpoint);
        try
        {
            var root = JsonDocument.Parse(File.ReadAllText(index)).RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("weight_map", out map) || map.ValueKind != JsonValueKind.Object)
                throw SharpLensException.Checkpoint($"{index}: no \"weight_map\" object");
        }
        catch (JsonException e) { throw SharpLensException.Checkpoint($"{index}: not valid JSON ({UntrustedText.Quote(e.Message)})"); }
        var byShard = new Dictionary<string, HashSet<string>>();
        foreach (var p in map.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.String) throw SharpLensException.Checkpoint($"{index}: weight_map entry {UntrustedText.Quote(p.Name)} is not a file name");
            string file = p.Value.GetString()!;
            if (file.Contains('/') || file.Contains('\\') || file.Contains(".."))
                throw SharpLensException.Checkpoint($"{index}: shard name {UntrustedText.Quote(file)} is not a plain file name");
            string shardPath = Path.Combine(dir, file);
            if (!File.Exists(shardPath)) throw SharpLensException.Checkpoint($"{index}: names shard {UntrustedText.Quote(file)}, which is missing");
            if (!byShard.TryGetValue(shardPath, out var set)) byShard[shardPath] = set = [];
            set.Add(p.Name);
        }
        return byShard.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => (kv.Key, (HashSet<string>?)kv.Value));
    }

    /// <summary>Every tensor name the config implies, with its shape, as the family's adapter names them
    /// (<paramref name="has"/>: which names the checkpoint holds, for families whose names vary, e.g. GPT-2's optional
    /// <c>transformer.</c> prefix).</summary>
    public static IEnumerable<(string Name, long[] Shape)> ExpectedTensors(ModelConfig c, Func<string, bool>? has = null) =>
        Families.ModelFamilies.Of(c.Architecture).Tensors(c, has ?? (_ => false));

    /// <summary>
    /// Checks the config against the tensors, before anything is allocated for the model. The expected tensors are walked
    /// one at a time and the first absent one stops the walk, so a config that implies far more tensors than the files
    /// hold (<c>num_hidden_layers: 1000000000</c>) fails at once instead of listing them all.
    /// </summary>
    void ValidateTensorSet()
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, shape) in ExpectedTensors(Config, Has))
        {
            if (!_tensors.TryGetValue(name, out var t))
                throw SharpLensException.Checkpoint($"{Directory}: tensor {name} is missing (the config implies it{Implied(name)})");
            if (t.Entry.Unreadable is { } dt)
                throw SharpLensException.Checkpoint($"{t.File.Path}: tensor {name}: dtype {UntrustedText.Quote(dt, 40)} is not supported (supported: BF16, F16, F32)");
            if (!t.Entry.Shape.SequenceEqual(shape))
                throw SharpLensException.Checkpoint(
                    $"{t.File.Path}: tensor {name} has shape {t.Entry.ShapeText}, but config.json implies [{string.Join(", ", shape)}]");
            names.Add(name);
        }
        foreach (var extra in _tensors.Keys.Where(n => !names.Contains(n) && !Ignorable(n)).Order(StringComparer.Ordinal).Take(1))
            throw SharpLensException.Checkpoint(
                $"{_tensors[extra].File.Path}: unexpected tensor {UntrustedText.Quote(extra)} for {Config.Architecture} with this config ({_tensors.Count} tensors in all)");
    }

    /// <summary>For a tensor of a layer beyond those the files hold, how many they do hold: num_hidden_layers is wrong.</summary>
    string Implied(string missing)
    {
        int layers = _tensors.Keys.Select(LayerOf).DefaultIfEmpty(-1).Max() + 1;
        return LayerOf(missing) >= layers
            ? $"; config.json has num_hidden_layers {Config.NLayers}, the files hold {layers} layer{(layers == 1 ? "" : "s")}"
            : "";
    }

    /// <summary>N of a <c>model.layers.N.…</c> tensor name; -1 for other names.</summary>
    static int LayerOf(string name)
    {
        const string prefix = "model.layers.";
        if (!name.StartsWith(prefix, StringComparison.Ordinal)) return -1;
        int end = name.IndexOf('.', prefix.Length);
        return end > prefix.Length && int.TryParse(name.AsSpan(prefix.Length, end - prefix.Length), System.Globalization.NumberStyles.None,
            System.Globalization.CultureInfo.InvariantCulture, out int layer) ? layer : -1;
    }

    /// <summary>Tensors some exporters add that the forward pass does not read (buffers, a tied copy of the embedding).</summary>
    bool Ignorable(string name) => Families.ModelFamilies.Of(Config.Architecture).Skips(name, Config);

    /// <summary>A 2-D tensor as a matrix view in its stored dtype.</summary>
    public WeightMatrix Matrix(string name)
    {
        var (f, e) = Lookup(name);
        if (e.Shape.Length != 2) throw SharpLensException.Checkpoint($"{f.Path}: tensor {name} is not 2-D");
        return new WeightMatrix(f.DataPointer(e), e.DType, (int)e.Shape[0], (int)e.Shape[1]);
    }

    /// <summary>A 2-D tensor stored [in, out] (GPT-2's <c>Conv1D</c>) copied once, in its stored dtype, into a 64-byte
    /// aligned [out, in] row-major buffer this checkpoint owns (freed by <see cref="Dispose"/>): a plain weight that takes
    /// the same kernels as an <c>nn.Linear</c>'s. Costs the tensor's bytes once more (<see cref="CopiedBytes"/>).</summary>
    public WeightMatrix InOutMatrix(string name)
    {
        var (f, e) = Lookup(name);
        if (e.Shape.Length != 2) throw SharpLensException.Checkpoint($"{f.Path}: tensor {name} is not 2-D");
        int inF = (int)e.Shape[0], outF = (int)e.Shape[1], size = DTypes.Size(e.DType);
        nint dst = (nint)NativeMemory.AlignedAlloc((nuint)((long)inF * outF * size), 64);
        lock (_owned) _owned.Add(dst);
        TransposeInto((byte*)f.DataPointer(e), (byte*)dst, inF, outF, size);
        return new WeightMatrix(dst, e.DType, outF, inF);
    }

    /// <summary>dst[o, i] = src[i, o] for a [rows, cols] source of elements of <paramref name="size"/> bytes, in 32 × 32
    /// tiles (row blocks of the destination in parallel).</summary>
    internal static void TransposeInto(byte* src, byte* dst, int rows, int cols, int size)
    {
        const int Tile = 32;
        Parallel.For(0, (cols + Tile - 1) / Tile, ob =>
        {
            int o0 = ob * Tile, o1 = Math.Min(o0 + Tile, cols);
            for (int i0 = 0; i0 < rows; i0 += Tile)
            {
                int i1 = Math.Min(i0 + Tile, rows);
                switch (size)
                {
                    case 2:
                        for (int o = o0; o < o1; o++)
                        for (int i = i0; i < i1; i++) ((ushort*)dst)[(long)o * rows + i] = ((ushort*)src)[(long)i * cols + o];
                        break;
                    default:
                        for (int o = o0; o < o1; o++)
                        for (int i = i0; i < i1; i++) ((uint*)dst)[(long)o * rows + i] = ((uint*)src)[(long)i * cols + o];
                        break;
                }
            }
        });
    }

    /// <summary>Bytes of the tensors the family copies at load (GPT-2's Conv1D weights), on top of <see cref="WeightBytes"/>.</summary>
    public long CopiedBytes => Families.ModelFamilies.Of(Config.Architecture).Copied(Config, Has)
        .Sum(n => _tensors.TryGetValue(n, out var t) ? t.Entry.End - t.Entry.Begin : 0);

    /// <summary>A tensor widened to a new fp32 array (for the small ones: norms, biases).</summary>
    public float[] Vector(string name)
    {
        var (f, e) = Lookup(name);
        var m = new WeightMatrix(f.DataPointer(e), e.DType, 1, checked((int)e.ElementCount));
        var dst = new float[m.Cols];
        m.ReadRow(0, dst);
        return dst;
    }

    public bool Has(string name) => _tensors.ContainsKey(name);

    public TensorEntry Entry(string name) => Lookup(name).Entry;

    (SafeTensorsFile File, TensorEntry Entry) Lookup(string name) =>
        _tensors.TryGetValue(name, out var t) ? t : throw SharpLensException.Checkpoint($"{Directory}: tensor {name} is missing");

    /// <summary>Bytes of tensor data mapped (the memory the weights occupy).</summary>
    public long WeightBytes => _tensors.Values.Sum(t => t.Entry.End - t.Entry.Begin);

    public void Dispose()
    {
        foreach (var f in _files) f.Dispose();
        _files.Clear();
        lock (_owned)
        {
            foreach (var p in _owned) NativeMemory.AlignedFree((void*)p);
            _owned.Clear();
        }
    }
}
