namespace SharpLens.Model;

/// <summary>A contiguous row-major fp32 tensor: the currency of caches, hooks and results.</summary>
public sealed class Tensor
{
    public float[] Data { get; }
    public int[] Shape { get; }

    public Tensor(float[] data, params int[] shape)
    {
        long n = shape.Aggregate(1L, (a, b) => a * b);
        if (n != data.Length) throw new ArgumentException($"shape [{string.Join(", ", shape)}] needs {n} elements, data has {data.Length}");
        Data = data; Shape = shape;
    }

    public static Tensor Zeros(params int[] shape) => new(new float[shape.Aggregate(1, (a, b) => checked(a * b))], shape);

    public int Rank => Shape.Length;
    public int Length => Data.Length;
    public Span<float> Span => Data;

    /// <summary>Elements in one slice along the first axis.</summary>
    public int Stride0 => Shape.Length == 0 ? 1 : Data.Length / Shape[0];

    /// <summary>Slice <paramref name="i"/> along the first axis (e.g. one batch item, one position).</summary>
    public Span<float> Slice(int i) => Data.AsSpan(i * Stride0, Stride0);

    /// <summary>The tensor without its first axis, for index <paramref name="i"/> (a copy).</summary>
    public Tensor At(int i) => new(Slice(i).ToArray(), Shape[1..]);

    public float this[params int[] index]
    {
        get => Data[Offset(index)];
        set => Data[Offset(index)] = value;
    }

    int Offset(int[] index)
    {
        if (index.Length != Shape.Length) throw new ArgumentException($"rank {Shape.Length} tensor indexed with {index.Length} indices");
        int o = 0;
        for (int i = 0; i < index.Length; i++)
        {
            if ((uint)index[i] >= (uint)Shape[i]) throw new IndexOutOfRangeException($"index {index[i]} out of range for axis {i} of size {Shape[i]}");
            o = o * Shape[i] + index[i];
        }
        return o;
    }

    public Tensor Clone() => new((float[])Data.Clone(), (int[])Shape.Clone());

    public override string ToString() => $"Tensor[{string.Join(", ", Shape)}]";
}
