namespace SharpLens.Training;

/// <summary>
/// AdamW (Loshchilov &amp; Hutter) exactly as <c>torch.optim.AdamW</c> (defaults β₁ 0.9, β₂ 0.999, ε 1e-8) computes it,
/// in fp32 with fp32 moments: p ← p·(1 − lr·λ); m ← m + (1 − β₁)(g − m); v ← β₂v + (1 − β₂)g²;
/// p ← p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε). Decay applies to every tensor, as setcomp.py's optimizer does.
/// </summary>
public sealed class AdamW
{
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.999;
    public double Eps { get; init; } = 1e-8;
    public double WeightDecay { get; init; } = 0.01;

    /// <summary>First and second moments, one buffer per parameter tensor.</summary>
    public ModelParameters ExpAvg { get; }
    public ModelParameters ExpAvgSq { get; }
    /// <summary>Updates taken so far (t of the bias corrections).</summary>
    public int StepCount { get; set; }

    public AdamW(ModelParameters parameters)
    {
        ExpAvg = parameters.ZerosLike();
        ExpAvgSq = parameters.ZerosLike();
    }

    /// <summary>One update of every tensor of <paramref name="parameters"/> from <paramref name="grads"/> at rate <paramref name="lr"/>.</summary>
    public void Step(ModelParameters parameters, ModelParameters grads, double lr)
    {
        StepCount++;
        double bc1 = 1 - Math.Pow(Beta1, StepCount), bc2 = 1 - Math.Pow(Beta2, StepCount);
        float decay = (float)(1 - lr * WeightDecay), b1 = (float)Beta1, b2 = (float)Beta2, stepSize = (float)(lr / bc1),
            bc2Sqrt = (float)Math.Sqrt(bc2), eps = (float)Eps;
        Parallel.For(0, parameters.All.Count, i =>
            Update(parameters.All[i].Data, grads.All[i].Data, ExpAvg.All[i].Data, ExpAvgSq.All[i].Data, decay, b1, b2, stepSize, bc2Sqrt, eps));
    }

    static void Update(float[] p, float[] g, float[] m, float[] v, float decay, float b1, float b2, float stepSize, float bc2Sqrt, float eps)
    {
        for (int j = 0; j < p.Length; j++)
        {
            float gj = g[j];
            p[j] *= decay;
            m[j] += (1 - b1) * (gj - m[j]);
            v[j] = v[j] * b2 + (1 - b2) * gj * gj;
            p[j] -= stepSize * (m[j] / (MathF.Sqrt(v[j]) / bc2Sqrt + eps));
        }
    }

    /// <summary>Naive reference: one AdamW update of scalars in double, from the paper's formulas with bias-corrected
    /// moments (t ≥ 1 is the step being taken).</summary>
    public static void StepNaive(double[] p, double[] g, double[] m, double[] v, int t, double lr,
        double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 0.01)
    {
        for (int j = 0; j < p.Length; j++)
        {
            p[j] -= lr * weightDecay * p[j];
            m[j] = beta1 * m[j] + (1 - beta1) * g[j];
            v[j] = beta2 * v[j] + (1 - beta2) * g[j] * g[j];
            double mHat = m[j] / (1 - Math.Pow(beta1, t)), vHat = v[j] / (1 - Math.Pow(beta2, t));
            p[j] -= lr * mHat / (Math.Sqrt(vHat) + eps);
        }
    }
}
