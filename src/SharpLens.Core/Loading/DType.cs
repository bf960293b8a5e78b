namespace SharpLens.Loading;

/// <summary>Storage dtypes SharpLens reads; arithmetic is always fp32.</summary>
public enum DType { F32, F16, BF16 }

public static class DTypes
{
    public static int Size(DType t) => t == DType.F32 ? 4 : 2;

    /// <summary>Parses a safetensors dtype string; null when unsupported.</summary>
    public static DType? Parse(string s) => s switch
    {
        "F32" => DType.F32,
        "F16" => DType.F16,
        "BF16" => DType.BF16,
        _ => null,
    };
}
