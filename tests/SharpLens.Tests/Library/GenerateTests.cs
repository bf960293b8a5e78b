using SharpLens.Experiments;
using SharpLens.Model;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Library;

/// <summary>Generate: greedy equals the argmax chain of full forwards (with and without hooks), keys and values are
/// reused (each step computes one position), sampling settings, seeds and errors.</summary>
public class GenerateTests : IDisposable
{
    readonly HookedTransformer _m = HookedTransformer.FromPretrained(Fixtures.DemoModelDir);

    public void Dispose() => _m.Dispose();

    /// <summary>The naive reference: a full forward over everything so far, argmax of the last row, repeated.</summary>
    int[] ArgmaxChain(int[] prompt, int n, HookSet? hooks = null)
    {
        var tokens = prompt.ToList();
        int V = _m.Config.VocabSize;
        for (int i = 0; i < n; i++)
        {
            var logits = hooks == null ? _m.Run([tokens.ToArray()]) : _m.RunWithHooks([tokens.ToArray()], hooks);
            tokens.Add(Sampler.ArgMax(logits.Data.AsSpan(logits.Length - V, V)));
        }
        return [.. tokens];
    }

    [Fact]
    public void Greedy_EqualsTheArgmaxChainOfFullForwards()
    {
        var prompt = _m.ToTokens(PromptSet.SeedClean);
        var generated = _m.Generate(prompt, 8, stopAtEos: false);
        Assert.Equal(ArgmaxChain(prompt, 8), generated);
        Assert.Equal(prompt, generated[..prompt.Length]);
        Assert.Equal(_m.ToSingleToken(PromptSet.SeedAnswer), generated[prompt.Length]);   // the trained demo completes the set
        // the text overload: the prompt followed by the decoded new tokens
        Assert.Equal(PromptSet.SeedClean + _m.Decode(generated[prompt.Length..]), _m.Generate(PromptSet.SeedClean, 8, stopAtEos: false));
    }

    /// <summary>Every family (sliding windows shorter than the prompt, soft-caps, learned positions, parallel residuals):
    /// the cached keys and values give what full forwards give; the argmax runs over the ids the tokenizer defines, so a
    /// padded vocabulary's extra rows (which win now and then in these random fixtures) are never generated.</summary>
    [Theory]
    [MemberData(nameof(SharpLens.Tests.Cli.CliFamilyTests.AllFixtures), MemberType = typeof(SharpLens.Tests.Cli.CliFamilyTests))]
    public void Greedy_OnEveryFamily_EqualsTheArgmaxChainOverDefinedTokens(string fixture)
    {
        using var m = HookedTransformer.FromPretrained(Fixtures.Dir(fixture));
        var prompt = m.ToTokens(PromptSet.SeedClean);
        int V = m.Config.VocabSize;
        var tokens = prompt.ToList();
        bool padWouldWin = false;
        for (int i = 0; i < 6; i++)
        {
            var logits = m.Run([tokens.ToArray()]).Data.AsSpan((tokens.Count - 1) * V, V).ToArray();
            padWouldWin |= !m.Tokenizer.IsDefined(Sampler.ArgMax(logits));
            tokens.Add(Enumerable.Range(0, V).Where(m.Tokenizer.IsDefined).MaxBy(id => logits[id]));
        }
        var generated = m.Generate(prompt, 6, stopAtEos: false);
        Assert.Equal(tokens, generated);
        Assert.Equal(PromptSet.SeedClean + m.Decode(generated[prompt.Length..]), m.Generate(PromptSet.SeedClean, 6, stopAtEos: false));
        if (fixture == "tiny-qwen2") Assert.True(padWouldWin, "tiny-qwen2's padding rows no longer win a step: the case this test guards is gone");
    }

    [Fact]
    public void Steering_HooksActiveAtEveryStep_EqualTheHookedArgmaxChain()
    {
        var prompt = _m.ToTokens("Man has four fruits, Peach, Orange, Grape and Mango - 1 Peach 1");
        var steer = _m.W_E.At(_m.ToSingleToken(" Orange")).ToTensor().Data;
        var hooks = new HookSet().Add("blocks.3.hook_resid_pre", (x, _) => x.View(.., .., ..).Add(steer, 30f));
        var steered = _m.Generate(prompt, 6, hooks: hooks, stopAtEos: false);
        Assert.Equal(ArgmaxChain(prompt, 6, hooks), steered);
        Assert.NotEqual(_m.Generate(prompt, 6, stopAtEos: false), steered);   // the steer changes what is generated
    }

    [Fact]
    public void EachStepAfterThePrompt_ComputesOnlyTheNewPosition()
    {
        var prompt = _m.ToTokens(PromptSet.SeedClean);
        var seen = new List<(int Rows, int Offset)>();
        var hooks = new HookSet().Add(HookNames.Embed, (x, hook) => seen.Add((x.Shape[1], hook.PosOffset)));
        _m.Generate(prompt, 4, hooks: hooks, stopAtEos: false);
        Assert.Equal([(prompt.Length, 0), (1, prompt.Length), (1, prompt.Length + 1), (1, prompt.Length + 2)], seen);
    }

    [Fact]
    public void Sampling_IsSeededAndRespectsTopKAndTopP()
    {
        var prompt = _m.ToTokens("Man has four fruits, Peach,");
        var a = _m.Generate(prompt, 6, temperature: 1.5f, seed: 7, stopAtEos: false);
        Assert.Equal(a, _m.Generate(prompt, 6, temperature: 1.5f, seed: 7, stopAtEos: false));
        var greedy = _m.Generate(prompt, 6, stopAtEos: false);
        Assert.Equal(greedy, _m.Generate(prompt, 6, temperature: 2f, topK: 1, seed: 3, stopAtEos: false));
        Assert.Equal(greedy, _m.Generate(prompt, 6, temperature: 2f, topP: 1e-6f, seed: 3, stopAtEos: false));
    }

    [Fact]
    public void Sampler_DrawsFromTheTruncatedDistribution()
    {
        float[] logits = [0f, MathF.Log(3f), -1f, -50f];
        var counts = new int[4];
        var s = new Sampler(1f, 2, null, 11);
        for (int i = 0; i < 4000; i++) counts[s.Next(logits)]++;
        Assert.Equal(0, counts[2] + counts[3]);                              // top-k 2
        Assert.InRange(counts[1] / 4000.0, 0.72, 0.78);                      // 3 : 1 between the two kept
        // probabilities ≈ [0.231, 0.513, 0.255, 0.002]: top-p 0.7 keeps 1 (0.513), then 2, which crosses 0.7
        var nucleus = new Sampler(1f, null, 0.7f, 5);
        var picked = Enumerable.Range(0, 500).Select(_ => nucleus.Next([0f, 0.8f, 0.1f, -5f])).Order().Distinct();
        Assert.Equal([1, 2], picked);
        Assert.Equal(1, new Sampler(0f, null, null, null).Next(logits));      // temperature 0: argmax
    }

    [Fact]
    public void BadSettings_AreUsageErrors_AndTooLongIsAnInputError()
    {
        var prompt = _m.ToTokens("Peach");
        Assert.Equal(ExitCode.Usage, Assert.Throws<SharpLensException>(() => _m.Generate(prompt, 2, temperature: -1)).Code);
        Assert.Equal(ExitCode.Usage, Assert.Throws<SharpLensException>(() => _m.Generate(prompt, 2, topK: 0)).Code);
        Assert.Equal(ExitCode.Usage, Assert.Throws<SharpLensException>(() => _m.Generate(prompt, 2, topP: 1.5f)).Code);
        Assert.Equal(ExitCode.Usage, Assert.Throws<SharpLensException>(() => _m.Generate(prompt, -1)).Code);
        Assert.Equal(ExitCode.Input, Assert.Throws<SharpLensException>(() => _m.Generate(prompt, _m.Config.MaxPositions)).Code);
        Assert.Equal(prompt, _m.Generate(prompt, 0));
    }
}
