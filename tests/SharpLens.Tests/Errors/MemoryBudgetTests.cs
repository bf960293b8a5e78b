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
        MemoryBudget.Ensure(1000, 1000, "m");
        MemoryBudget.Ensure(long.MaxValue, null, "m");
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
