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

    /// <summary>Bytes per element of the safetensors dtypes that are stored but never read as weights (masks, counters),
    /// null for an unknown name.</summary>
    public static int? StorageSize(string s) => s switch
    {
        "BOOL" or "U8" or "I8" or "F8_E4M3" or "F8_E5M2" => 1,
        "I16" or "U16" => 2,
        "I32" or "U32" => 4,
        "I64" or "U64" or "F64" => 8,
        _ => null,
    };
}
