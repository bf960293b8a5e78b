using System.Numerics.Tensors;
using SharpLens.Kernels;
using SharpLens.Loading;

namespace SharpLens.Training;

/// <summary>
/// One batched forward and backward pass of a Qwen2-architecture model for training, llm.c style: the prompts of a
/// batch are packed row after row (N = Σ lengths rows, no padding) so every projection is one GEMM over the whole batch;
/// attention runs per prompt, in parallel. The loss is setcomp.py's: the mean cross-entropy of the answer token at each
/// prompt's final position. Backward computes the weight gradients only (no hook gradients are kept).
/// N = rows, B = prompts, d = d_model, H = heads, G = kv heads, e = d_head, f = d_mlp, V = vocab.
/// </summary>
public sealed class TrainingPass
{
    readonly ModelParameters _p;
    readonly ModelConfig _c;
    readonly Rotary _rope;
    float[] _scratch = [];

    public TrainingPass(ModelParameters parameters)
    {
        _p = parameters; _c = parameters.Config;
        _rope = new Rotary(_c.DHead, _c.RopeTheta, _c.RopeScaling, _c.RotaryDims);
    }

    /// <summary>What the forward keeps for the backward, per layer.</summary>
    sealed class LayerActs
    {
        public float[] XPre = [], S1 = [], H1 = [], Q = [], K = [], V = [], Pattern = [], Z = [], XMid = [], S2 = [], H2 = [], Gate = [], Up = [], Post = [];
    }

    sealed class Batch
    {
        public int[][] Prompts = [];
        public int[] Start = [], Length = [], PatternStart = [];
        public int N, PatternSize;
        public int[] Tokens = [];                  // [N]
        public LayerActs[] Layers = [];
        public float[] XFinal = [], SFinal = [], HFinal = [], Logits = [];   // [B, d], [B], [B, d], [B, V]
    }

    /// <summary>The logits at each prompt's final position, [B, V] row-major.</summary>
    public float[] FinalLogits(IReadOnlyList<int[]> prompts) => Forward(prompts).Logits;

    /// <summary>
    /// Forward and backward of one batch: returns the mean cross-entropy of <paramref name="answers"/> at the final
    /// positions and how many prompts the model already answers (argmax), and adds the loss's gradient to
    /// <paramref name="grads"/> (zero it first for a fresh step).
    /// </summary>
    public (double Loss, int Correct) LossAndGradients(IReadOnlyList<int[]> prompts, IReadOnlyList<int> answers, ModelParameters grads)
    {
        var b = Forward(prompts);
        int B = prompts.Count, V = _c.VocabSize;
        var dLogits = new float[B * V];
        var (loss, correct) = CrossEntropy(b.Logits, answers, B, V, dLogits);
        Backward(b, dLogits, grads);
        return (loss, correct);
    }

    /// <summary>Mean cross-entropy over the rows and its gradient (softmax − one-hot) / B; also the argmax hits.</summary>
    public static (double Loss, int Correct) CrossEntropy(float[] logits, IReadOnlyList<int> answers, int B, int V, Span<float> dLogits)
    {
        double loss = 0; int correct = 0;
        for (int r = 0; r < B; r++)
        {
            var row = logits.AsSpan(r * V, V);
            int a = answers[r];
            if ((uint)a >= (uint)V) throw new ArgumentOutOfRangeException(nameof(answers), $"answer {a} is outside the vocabulary of {V}");
            float max = TensorPrimitives.Max(row);
            if (TensorPrimitives.IndexOfMax(row) == a) correct++;
            double sum = 0;
            foreach (float v in row) sum += Math.Exp(v - max);
            double lse = max + Math.Log(sum);
            loss += lse - row[a];
            for (int v = 0; v < V; v++) dLogits[r * V + v] = (float)(Math.Exp(row[v] - lse) / B);
            dLogits[r * V + a] -= 1f / B;
        }
        return (loss / B, correct);
    }

    Span<float> Scratch(long n)
    {
        if (_scratch.Length < n) _scratch = new float[n];
        return _scratch.AsSpan(0, (int)n);
    }

    Batch Forward(IReadOnlyList<int[]> prompts)
    {
        int B = prompts.Count, d = _c.DModel, H = _c.NHeads, G = _c.NKvHeads, e = _c.DHead, f = _c.DMlp;
        var b = new Batch { Prompts = prompts.ToArray(), Start = new int[B], Length = new int[B], PatternStart = new int[B] };
        for (int i = 0; i < B; i++)
        {
            int len = prompts[i].Length;
            if (len == 0) throw SharpLensException.Input("a training prompt has no tokens");
            _c.CheckPromptLength(len, "a training prompt");
            b.Start[i] = b.N; b.Length[i] = len; b.PatternStart[i] = b.PatternSize;
            b.N += len; b.PatternSize += H * len * len;
        }
        int N = b.N;
        b.Tokens = prompts.SelectMany(t => t).ToArray();
        var embed = _p["model.embed_tokens.weight"].Data;
        var x = new float[N * d];                                           // the residual stream [N, d]
        for (int r = 0; r < N; r++)
        {
            int tok = b.Tokens[r];
            if ((uint)tok >= (uint)_c.VocabSize) throw SharpLensException.Input($"token id {tok} is outside the vocabulary of {_c.VocabSize}");
            embed.AsSpan(tok * d, d).CopyTo(x.AsSpan(r * d, d));
        }
        b.Layers = new LayerActs[_c.NLayers];
        var tmp = new float[N * d];
        for (int l = 0; l < _c.NLayers; l++)
        {
            var a = b.Layers[l] = new LayerActs();
            string pre = $"model.layers.{l}.";
            a.XPre = (float[])x.Clone();
            (a.S1, a.H1) = Norm(x, N, _p[pre + "input_layernorm.weight"].Data);
            a.Q = Linear(a.H1, N, pre + "self_attn.q_proj");                // [N, H, e]
            a.K = Linear(a.H1, N, pre + "self_attn.k_proj");                // [N, G, e]
            a.V = Linear(a.H1, N, pre + "self_attn.v_proj");                // [N, G, e]
            for (int i = 0; i < B; i++)
                for (int t = 0; t < b.Length[i]; t++)
                {
                    int r = b.Start[i] + t;
                    _rope.Apply(a.Q.AsSpan(r * H * e, H * e), t);
                    _rope.Apply(a.K.AsSpan(r * G * e, G * e), t);
                }
            a.Pattern = new float[b.PatternSize];                          // per prompt [H, len, len]
            a.Z = new float[N * H * e];                                     // [N, H, e]
            float scale = _c.AttnScale(l);
            Parallel.For(0, B, new ParallelOptions { MaxDegreeOfParallelism = KernelOptions.EffectiveThreads }, i =>
            {
                int len = b.Length[i], s = b.Start[i];
                var pat = a.Pattern.AsSpan(b.PatternStart[i], H * len * len);
                Attention.Scores(a.Q.AsSpan(s * H * e, len * H * e), a.K.AsSpan(s * G * e, len * G * e), 1, len, len, 0, H, G, e, pat, scale);
                Attention.Pattern(pat, len);
                Attention.WeightedValues(pat, a.V.AsSpan(s * G * e, len * G * e), 1, len, len, H, G, e, a.Z.AsSpan(s * H * e, len * H * e));
            });
            Gemm.LinearForward(a.Z, N, _p[pre + "self_attn.o_proj.weight"].Matrix, default, tmp);
            TensorPrimitives.Add(x, tmp, x);
            a.XMid = (float[])x.Clone();
            (a.S2, a.H2) = Norm(x, N, _p[pre + "post_attention_layernorm.weight"].Data);
            a.Gate = Linear(a.H2, N, pre + "mlp.gate_proj");               // [N, f]
            a.Up = Linear(a.H2, N, pre + "mlp.up_proj");                   // [N, f]
            a.Post = new float[N * f];
            Activations.ApplyGated(_c.Design.Activation, a.Gate, a.Up, new float[N * f], a.Post);
            Gemm.LinearForward(a.Post, N, _p[pre + "mlp.down_proj.weight"].Matrix, default, tmp);
            TensorPrimitives.Add(x, tmp, x);
        }
        // Only the final positions are read out: their final norm and the unembedding.
        b.XFinal = new float[B * d];
        for (int i = 0; i < B; i++) x.AsSpan((b.Start[i] + b.Length[i] - 1) * d, d).CopyTo(b.XFinal.AsSpan(i * d, d));
        (b.SFinal, b.HFinal) = Norm(b.XFinal, B, _p["model.norm.weight"].Data);
        b.Logits = new float[B * _c.VocabSize];
        Gemm.LinearForward(b.HFinal, B, Unembed.Matrix, default, b.Logits);
        return b;
    }

    Parameter Unembed => _p[_c.TieWordEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight"];

    (float[] Scale, float[] Y) Norm(float[] x, int rows, float[] w)
    {
        int d = w.Length;
        var s = new float[rows]; var y = new float[rows * d];
        for (int r = 0; r < rows; r++)
        {
            s[r] = RmsNorm.Scale(x.AsSpan(r * d, d), _c.RmsNormEps);
            RmsNorm.Apply(x.AsSpan(r * d, d), s[r], w, y.AsSpan(r * d, d));
        }
        return (s, y);
    }

    float[] Linear(float[] x, int rows, string prefix)
    {
        var w = _p[prefix + ".weight"];
        var y = new float[rows * w.Matrix.Rows];
        Gemm.LinearForward(x, rows, w.Matrix, _c.QkvBias && prefix.Contains("self_attn.") && !prefix.EndsWith("o_proj") ? _p[prefix + ".bias"].Data : default, y);
        return y;
    }

    void Backward(Batch b, float[] dLogits, ModelParameters g)
    {
        int B = b.Prompts.Length, N = b.N, d = _c.DModel, H = _c.NHeads, G = _c.NKvHeads, e = _c.DHead, f = _c.DMlp, V = _c.VocabSize;
        // Unembedding and final norm, at the final positions only.
        var dhf = new float[B * d];
        LinearBackward.InputGrad(dLogits, B, Unembed.Matrix, dhf, Scratch((long)B * d));
        LinearBackward.WeightGrad(dLogits, b.HFinal, B, V, d, g[Unembed.Name].Data, default, Scratch((long)V * (B + d)));
        var dx = new float[N * d];                                          // the residual stream's gradient [N, d]
        var tmp = new float[2 * d];
        var lnf = _p["model.norm.weight"].Data;
        for (int i = 0; i < B; i++)
            NormBackward.Rms(b.XFinal.AsSpan(i * d, d), b.SFinal[i], lnf, dhf.AsSpan(i * d, d),
                dx.AsSpan((b.Start[i] + b.Length[i] - 1) * d, d), g["model.norm.weight"].Data, tmp);

        for (int l = _c.NLayers - 1; l >= 0; l--)
        {
            var a = b.Layers[l];
            string pre = $"model.layers.{l}.";
            // MLP: down projection, SwiGLU, gate and up projections, second norm.
            var dpost = new float[N * f];
            LinearBackward.InputGrad(dx, N, _p[pre + "mlp.down_proj.weight"].Matrix, dpost, Scratch((long)N * f));
            LinearBackward.WeightGrad(dx, a.Post, N, d, f, g[pre + "mlp.down_proj.weight"].Data, default, Scratch((long)d * (N + f)));
            var dgate = new float[N * f]; var dup = new float[N * f];
            ActivationBackward.Gated(_c.Design.Activation, a.Gate, a.Up, dpost, dgate, dup);
            var dh2 = new float[N * d];
            LinearBackward.InputGrad(dgate, N, _p[pre + "mlp.gate_proj.weight"].Matrix, dh2, Scratch((long)N * d));
            LinearBackward.InputGrad(dup, N, _p[pre + "mlp.up_proj.weight"].Matrix, dh2, Scratch((long)N * d));
            LinearBackward.WeightGrad(dgate, a.H2, N, f, d, g[pre + "mlp.gate_proj.weight"].Data, default, Scratch((long)f * (N + d)));
            LinearBackward.WeightGrad(dup, a.H2, N, f, d, g[pre + "mlp.up_proj.weight"].Data, default, Scratch((long)f * (N + d)));
            NormRows(a.XMid, a.S2, _p[pre + "post_attention_layernorm.weight"].Data, dh2, dx, g[pre + "post_attention_layernorm.weight"].Data);

            // Attention: output projection, softmax attention per prompt, rotary, q/k/v projections, first norm.
            var dz = new float[N * H * e];
            LinearBackward.InputGrad(dx, N, _p[pre + "self_attn.o_proj.weight"].Matrix, dz, Scratch((long)N * H * e));
            LinearBackward.WeightGrad(dx, a.Z, N, d, H * e, g[pre + "self_attn.o_proj.weight"].Data, default, Scratch((long)d * (N + H * e)));
            var dq = new float[N * H * e]; var dk = new float[N * G * e]; var dv = new float[N * G * e];
            float scale = _c.AttnScale(l);
            Parallel.For(0, B, new ParallelOptions { MaxDegreeOfParallelism = KernelOptions.EffectiveThreads }, i =>
            {
                int len = b.Length[i], s = b.Start[i], ps = b.PatternStart[i], pn = H * len * len;
                AttentionBackward.Run(a.Pattern.AsSpan(ps, pn), a.Q.AsSpan(s * H * e, len * H * e), a.K.AsSpan(s * G * e, len * G * e),
                    a.V.AsSpan(s * G * e, len * G * e), dz.AsSpan(s * H * e, len * H * e), 1, len, len, 0, H, G, e, scale,
                    new float[pn], new float[pn], dq.AsSpan(s * H * e, len * H * e), dk.AsSpan(s * G * e, len * G * e), dv.AsSpan(s * G * e, len * G * e));
                for (int t = 0; t < len; t++)
                {
                    _rope.ApplyInverse(dq.AsSpan((s + t) * H * e, H * e), t);
                    _rope.ApplyInverse(dk.AsSpan((s + t) * G * e, G * e), t);
                }
            });
            var dh1 = new float[N * d];
            foreach (var (name, dy, width) in new[] { ("q_proj", dq, H * e), ("k_proj", dk, G * e), ("v_proj", dv, G * e) })
            {
                string w = pre + "self_attn." + name;
                LinearBackward.InputGrad(dy, N, _p[w + ".weight"].Matrix, dh1, Scratch((long)N * d));
                LinearBackward.WeightGrad(dy, a.H1, N, width, d, g[w + ".weight"].Data, _c.QkvBias ? g[w + ".bias"].Data : default,
                    Scratch((long)width * (N + d)));
            }
            NormRows(a.XPre, a.S1, _p[pre + "input_layernorm.weight"].Data, dh1, dx, g[pre + "input_layernorm.weight"].Data);
        }
        var dEmbed = g["model.embed_tokens.weight"].Data;
        for (int r = 0; r < N; r++)
        {
            var row = dEmbed.AsSpan(b.Tokens[r] * d, d);
            TensorPrimitives.Add(row, dx.AsSpan(r * d, d), row);
        }
    }

    /// <summary>dx += the RMSNorm backward of every row; dw += its weight gradient (rows in order: deterministic).</summary>
    static void NormRows(float[] x, float[] scale, float[] w, float[] dy, float[] dx, float[] dw)
    {
        int d = w.Length;
        var tmp = new float[d];
        for (int r = 0; r < scale.Length; r++)
            NormBackward.Rms(x.AsSpan(r * d, d), scale[r], w, dy.AsSpan(r * d, d), dx.AsSpan(r * d, d), dw, tmp);
    }
}
