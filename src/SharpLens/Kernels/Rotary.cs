using SharpLens.Loading;

namespace SharpLens.Kernels;

/// <summary>
/// Rotary position embedding in Hugging Face's <c>rotate_half</c> layout: for i &lt; d/2,
/// <c>y[i] = x[i]·cos − x[i+d/2]·sin</c>, <c>y[i+d/2] = x[i+d/2]·cos + x[i]·sin</c>, angle = pos · inv_freq[i],
/// <c>inv_freq[i] = theta^(−2i/d)</c>, optionally rescaled by <c>llama3</c> rope scaling. Tables in double, applied in fp32.
/// Partial rotary (GPT-NeoX's <c>rotary_pct</c>, Phi-3's <c>partial_rotary_factor</c>): d is the rotated prefix of each head (<c>rotary_ndims</c>), the
/// head's other dimensions pass through unchanged.
/// </summary>
public sealed class Rotary
{
    readonly int _half, _dHead;
    float[] _cos = [], _sin = [];   // [positions][d_head/2]
    int _positions;
    readonly double[] _invFreq;     // [rotary_dims/2]

    /// <param name="rotaryDims">the rotated prefix of each head (even, ≤ d_head); 0 = all of it</param>
    public Rotary(int dHead, double theta, Llama3RopeScaling? scaling, int rotaryDims = 0)
    {
        if (rotaryDims == 0) rotaryDims = dHead;
        _dHead = dHead;
        _half = rotaryDims / 2;
        _invFreq = InverseFrequencies(rotaryDims, theta, scaling);
    }

    public static double[] InverseFrequencies(int dHead, double theta, Llama3RopeScaling? s)
    {
        var inv = new double[dHead / 2];
        for (int i = 0; i < inv.Length; i++) inv[i] = 1.0 / Math.Pow(theta, 2.0 * i / dHead);
        if (s == null) return inv;
        // Hugging Face _compute_llama3_parameters
        double lowWavelen = s.OriginalMaxPositionEmbeddings / s.LowFreqFactor;
        double highWavelen = s.OriginalMaxPositionEmbeddings / s.HighFreqFactor;
        for (int i = 0; i < inv.Length; i++)
        {
            double wavelen = 2 * Math.PI / inv[i];
            double scaled = wavelen > lowWavelen ? inv[i] / s.Factor : inv[i];
            bool medium = !(wavelen < highWavelen) && !(wavelen > lowWavelen);
            if (medium)
            {
                double smooth = (s.OriginalMaxPositionEmbeddings / wavelen - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor);
                scaled = (1 - smooth) * scaled / s.Factor + smooth * scaled;
            }
            inv[i] = scaled;
        }
        return inv;
    }

    void EnsurePositions(int n)
    {
        if (n <= _positions) return;
        lock (_invFreq)
        {
            if (n <= _positions) return;
            int cap = Math.Max(n, Math.Max(2 * _positions, 64));   // doubling: growing by one per position was O(T²) trig
            var cos = new float[cap * _half];
            var sin = new float[cap * _half];
            for (int p = 0; p < cap; p++)
                for (int i = 0; i < _half; i++)
                {
                    double a = p * _invFreq[i];
                    cos[p * _half + i] = (float)Math.Cos(a);
                    sin[p * _half + i] = (float)Math.Sin(a);
                }
            (_cos, _sin) = (cos, sin);
            _positions = cap;
        }
    }

    /// <summary>Rotates every head of one position in place. <paramref name="heads"/> = [n, d_head].</summary>
    public void Apply(Span<float> heads, int position)
    {
        EnsurePositions(position + 1);
        var cos = _cos.AsSpan(position * _half, _half);
        var sin = _sin.AsSpan(position * _half, _half);
        for (int h = 0; h < heads.Length / _dHead; h++)
        {
            var x = heads.Slice(h * _dHead, 2 * _half);
            for (int i = 0; i < _half; i++)
            {
                float a = x[i], b = x[i + _half];
                x[i] = a * cos[i] - b * sin[i];
                x[i + _half] = b * cos[i] + a * sin[i];
            }
        }
    }

    /// <summary>Backward of <see cref="Apply"/>: the rotation is orthogonal, so the gradient rotates back by −θ
    /// (its transpose); with partial rotary the head's unrotated dimensions pass their gradient through.
    /// <paramref name="heads"/> = [n, d_head] gradients, in place.</summary>
    public void ApplyInverse(Span<float> heads, int position)
    {
        EnsurePositions(position + 1);
        var cos = _cos.AsSpan(position * _half, _half);
        var sin = _sin.AsSpan(position * _half, _half);
        for (int h = 0; h < heads.Length / _dHead; h++)
        {
            var x = heads.Slice(h * _dHead, 2 * _half);
            for (int i = 0; i < _half; i++)
            {
                float a = x[i], b = x[i + _half];
                x[i] = a * cos[i] + b * sin[i];
                x[i + _half] = b * cos[i] - a * sin[i];
            }
        }
    }
}
