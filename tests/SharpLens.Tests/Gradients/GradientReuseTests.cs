using SharpLens.Model;
using SharpLens.Tests.Support;
using Xunit;

namespace SharpLens.Tests.Gradients;

/// <summary>A disposed <see cref="GradientResult"/> hands its arrays back to the model and the next backward reuses them:
/// the gradients must not change (reused arrays come back holding the last run's numbers), and a disposed result must
/// not be readable by mistake.</summary>
public class GradientReuseTests
{
    const string Other = "Man has four fruits, Peach, Orange";

    static Dictionary<string, float[]> Copy(GradientResult r) =>
        r.HookGrads.ToDictionary(kv => kv.Key, kv => (float[])kv.Value.Data.Clone());

    [Theory]
    [InlineData("setcomp-demo")]
    [InlineData("tiny-gpt2")]                // LayerNorm: hooks after the weight
    [InlineData("tiny-gpt-neox")]            // parallel residual: a copy of dx per block
    [InlineData("tiny-qwen3")]               // q/k norms' working arrays
    [InlineData("tiny-gemma2")]              // post-norms and both soft-caps
    public void GradientsAreTheSameWhenTheyReuseMemory(string fixture)
    {
        using var m = HookedTransformer.Load(Fixtures.Dir(fixture));
        m.Pool.PoisonReturned = true;                                      // a read of memory nothing wrote gives NaN
        var ids = m.ToTokens(FiniteDifferenceGradTests.Prompt);
        var metric = Metrics.LogitDiff(ids[1], ids[2]);
        Dictionary<string, float[]> first;
        float[] firstLogits;
        using (var r = m.Backward(ids, metric)) { first = Copy(r); firstLogits = (float[])r.Logits.Data.Clone(); }
        // A run of another length between them; the pool poisons what comes back, so stale numbers cannot pass for new.
        m.Backward(m.ToTokens(Other), Metrics.NextTokenLoss(m.ToTokens(Other))).Dispose();
        using var again = m.Backward(ids, metric);
        Assert.Equal(first.Keys.Order(), again.HookGrads.Keys.Order());
        foreach (var (name, g) in first) Assert.True(g.AsSpan().SequenceEqual(again.HookGrads[name].Data), $"{fixture}: {name} changed");
        Assert.Equal(firstLogits, again.Logits.Data);
    }

    [Fact]
    public void ADisposedResultsArraysAreReusedByTheNextCall()
    {
        using var m = HookedTransformer.Load(Fixtures.DemoModelDir);
        var ids = m.ToTokens(FiniteDifferenceGradTests.Prompt);
        var metric = Metrics.LogitDiff(ids[1], ids[2]);
        m.Backward(ids, metric).Dispose();                                 // warm-up: JIT, the arena
        long before = GC.GetAllocatedBytesForCurrentThread();
        var r = m.Backward(ids, metric);
        long fresh = GC.GetAllocatedBytesForCurrentThread() - before;
        string cached = r.Activations.Names.First();
        r.Dispose();
        var e = Assert.Throws<KeyNotFoundException>(() => r.Activations[cached]);
        Assert.Contains("disposed", e.Message);
        Assert.Throws<ObjectDisposedException>(() => r.Logits);
        Assert.Throws<ObjectDisposedException>(() => r.HookGrads);
        long held = m.Pool.Bytes;
        r.Dispose();                                                       // twice: nothing more is returned
        Assert.Equal(held, m.Pool.Bytes);

        // Every array at least a page long now comes from the pool: the call allocates a small fraction of what the
        // pooled arrays hold, and gives them all back.
        before = GC.GetAllocatedBytesForCurrentThread();
        var next = m.Backward(ids, metric);
        long reusing = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(reusing < held / 4, $"allocated {reusing} bytes with {held} bytes pooled (first call: {fresh})");
        var all = next.HookGrads.Values.Select(g => g.Data).Concat(next.Activations.Names.Select(n => next.Activations[n].Data)).ToList();
        Assert.Equal(all.Count, all.Distinct(ReferenceEqualityComparer.Instance).Count());   // no array handed out twice
        next.Dispose();
        Assert.Equal(held, m.Pool.Bytes);
    }

    [Fact]
    public void RunWithCacheIncludingBackwardKeepsItsArraysAndRecyclesTheRest()
    {
        using var m = HookedTransformer.Load(Fixtures.DemoModelDir);
        var ids = m.ToTokens(FiniteDifferenceGradTests.Prompt);
        var metric = Metrics.LogitDiff(ids[1], ids[2]);
        Dictionary<string, float[]> expected;
        using (var r = m.Backward(ids, metric)) expected = Copy(r);
        Func<string, bool> filter = n => n.EndsWith("hook_resid_pre");
        m.Pool.Clear();
        var bare = m.Backward(ids, metric, filter, cacheFilter: filter);   // not disposed: only its working arrays return
        long working = m.Pool.Bytes;
        m.Pool.Clear();
        var (_, cache) = m.RunWithCache(ids, metric, includeBackward: true, filter);
        // What only the backward read (patterns, MLP activations, …) is back in the pool as well; the cache's arrays are not.
        long recycled = m.Pool.Bytes;
        Assert.True(recycled > working, $"{recycled} bytes pooled after RunWithCache, {working} after a bare backward");
        Assert.Equal(bare.Activations.Names.Where(filter).Order(), cache.Names.Where(n => !n.EndsWith("_grad")).Order());
        using (cache)
        {
            Assert.Contains(m.HookNames.Layers[0].ResidPre, cache.Names);
            Assert.All(cache.Names, n => Assert.EndsWith(n.EndsWith("_grad") ? "hook_resid_pre_grad" : "hook_resid_pre", n));
            foreach (var name in cache.Names.Where(n => n.EndsWith("_grad")))
                Assert.Equal(expected[name[..^"_grad".Length]], cache[name].Data[..]);
        }
        Assert.Throws<KeyNotFoundException>(() => cache[m.HookNames.Layers[0].ResidPre]);
        long kept = cache.Names.Count();
        Assert.Equal(0, kept);
        Assert.True(m.Pool.Bytes > recycled, "the cache's activations and gradients went back on Dispose");
    }
}
