using SharpLens.Loading;
using SharpLens.Tests.Support;

namespace SharpLens.Tests.Errors;

/// <summary>The memory check before loading: estimate, available figure, and the refusal message.
/// (The <c>SHARPLENS_MEMORY_LIMIT</c> variable is exercised through the CLI in <see cref="CliErrorTests"/>, in a child
/// process, so that these parallel tests never change the environment of the test host.)</summary>
public class MemoryBudgetTests
{
    static readonly ModelConfig Tiny = ModelConfig.Load(Fixtures.Dir("tiny-qwen2"));

    [Fact]
    public void EstimateCoversWeightsAndGrowsWithThePrompt()
    {
        long weights = 500_000;
        long short_ = MemoryBudget.Estimate(Tiny, weights, 10), long_ = MemoryBudget.Estimate(Tiny, weights, 1000);
        Assert.True(short_ > weights + MemoryBudget.FixedMarginBytes);
        Assert.True(long_ > short_);
        // attention scores are quadratic in the prompt length
        Assert.True(MemoryBudget.Estimate(Tiny, 0, 4000) - MemoryBudget.Estimate(Tiny, 0, 2000) >
                    2 * (MemoryBudget.Estimate(Tiny, 0, 2000) - MemoryBudget.Estimate(Tiny, 0, 1000)));
    }

    [Fact]
    public void APlainRunNeedsLessThanAStudy() =>
        Assert.True(MemoryBudget.Estimate(Tiny, 0, 100, cachedRuns: 0) < MemoryBudget.Estimate(Tiny, 0, 100, cachedRuns: 2));

    /// <summary>The seed study's model (Qwen1.5-1.8B, 3.67 GB of bf16 weights) on its 25-token prompts: the estimate
    /// must stay close to the weights, or machines that run it fine would be refused.</summary>
    [Fact]
    public void EstimateForTheSeedModelIsModest()
    {
        var qwen18 = Tiny with
        {
            DModel = 2048, DMlp = 5504, NLayers = 24, NHeads = 16, NKvHeads = 16, DHead = 128, VocabSize = 151936, MaxPositions = 32768,
        };
        long weights = 3_673_000_000;
        long need = MemoryBudget.Estimate(qwen18, weights, 25);
        Assert.InRange(need, weights, weights + 1_000_000_000);
    }

    [Fact]
    public void RefusesWithBothNumbers()
    {
        var e = Assert.Throws<SharpLensException>(() => MemoryBudget.Ensure(3_000_000_000, 1_000_000_000, "Qwen1.5-1.8B"));
        Assert.Equal(ExitCode.Memory, e.Code);
        Assert.Contains("needs about 3.00 GB (3000000000 bytes)", e.Message);
        Assert.Contains("only 1000.0 MB (1000000000 bytes) is available", e.Message);
        Assert.Contains("Qwen1.5-1.8B", e.Message);
    }

    [Fact]
    public void EnoughOrUnknownMemoryPasses()
    {
        Assert.Null(Record.Exception(() => MemoryBudget.Ensure(1000, 1000, "m")));          // exactly enough
        Assert.Null(Record.Exception(() => MemoryBudget.Ensure(long.MaxValue, null, "m")));  // unknown: no check
        Assert.Throws<SharpLensException>(() => MemoryBudget.Ensure(1001, 1000, "m"));       // one byte short
    }

    [Fact]
    public void ReadsMemAvailableFromMeminfo()
    {
        const string meminfo = "MemTotal:       16303612 kB\nMemFree:         1158028 kB\nMemAvailable:    9876543 kB\nBuffers: 1 kB\n";
        Assert.Equal(9876543L * 1024, MemoryBudget.ParseMemAvailable(meminfo));
        Assert.Null(MemoryBudget.ParseMemAvailable("MemTotal: 1 kB\n"));
    }

    [Fact]
    public void MachineFigureIsPlausibleWhenNotOverridden()
    {
        if (Environment.GetEnvironmentVariable(MemoryBudget.LimitVariable) != null || !File.Exists("/proc/meminfo")) return;
        Assert.True(MemoryBudget.Available() > 1L << 20);
    }
}
