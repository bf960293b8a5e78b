using SharpLens.Experiments;
using SharpLens.Sharding;

namespace SharpLens.Tests.Sharding;

/// <summary>--shard values (I/N, slurm) and the slices they make.</summary>
public class ShardSpecTests
{
    static Func<string, string?> Env(params (string Key, string Value)[] vars) =>
        name => vars.FirstOrDefault(v => v.Key == name).Value;

    [Theory]
    [InlineData("0/1", 0, 1)]
    [InlineData("0/4", 0, 4)]
    [InlineData("3/4", 3, 4)]
    [InlineData(" 2/7 ", 2, 7)]
    public void Parse_IndexOverCount(string text, int index, int count)
    {
        var s = ShardSpec.Parse(text, Env());
        Assert.Equal((index, count), (s.Index, s.Count));
        Assert.Equal($"{index}/{count}", s.ToString());
    }

    [Theory]
    [InlineData("4/4", "shard 4 does not exist among 4")]
    [InlineData("9/4", "the index runs from 0 to 3")]
    [InlineData("0/0", "at least 1")]
    [InlineData("-1/4", "expected I/N")]
    [InlineData("1/-4", "expected I/N")]
    [InlineData("1", "expected I/N")]
    [InlineData("1/2/3", "expected I/N")]
    [InlineData("a/b", "expected I/N")]
    [InlineData("", "expected I/N")]
    [InlineData("1.0/4", "expected I/N")]
    [InlineData("99999999999/4", "expected I/N")]
    [InlineData("slurmy", "or slurm")]
    public void Parse_RejectsBadValues_AsUsageErrors(string text, string message)
    {
        var e = Assert.Throws<SharpLensException>(() => ShardSpec.Parse(text, Env()));
        Assert.Equal(ExitCode.Usage, e.Code);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void Slurm_ReadsTheArrayTask_NumberedFromItsMinimumInItsSteps()
    {
        Assert.Equal(new ShardSpec(2, 4), ShardSpec.Parse("slurm", Env(("SLURM_ARRAY_TASK_ID", "2"), ("SLURM_ARRAY_TASK_COUNT", "4"))));
        Assert.Equal(new ShardSpec(2, 4), ShardSpec.Parse("SLURM", Env(("SLURM_ARRAY_TASK_ID", "3"), ("SLURM_ARRAY_TASK_COUNT", "4"),
            ("SLURM_ARRAY_TASK_MIN", "1"), ("SLURM_ARRAY_TASK_STEP", "1"))));   // --array=1-4
        Assert.Equal(new ShardSpec(3, 4), ShardSpec.Parse("slurm", Env(("SLURM_ARRAY_TASK_ID", "16"), ("SLURM_ARRAY_TASK_COUNT", "4"),
            ("SLURM_ARRAY_TASK_MIN", "10"), ("SLURM_ARRAY_TASK_STEP", "2"))));  // --array=10-16:2
    }

    [Theory]
    [InlineData(null, "4", "not both set")]
    [InlineData("1", null, "not both set")]
    [InlineData("x", "4", "not numbers")]
    [InlineData("1", "0", "not numbers")]
    [InlineData("4", "4", "not one of 4 evenly spaced tasks")]
    public void Slurm_OutsideAnArrayOrWithBadVariables_IsAUsageError(string? id, string? count, string message)
    {
        var vars = new List<(string, string)>();
        if (id != null) vars.Add(("SLURM_ARRAY_TASK_ID", id));
        if (count != null) vars.Add(("SLURM_ARRAY_TASK_COUNT", count));
        var e = Assert.Throws<SharpLensException>(() => ShardSpec.Parse("slurm", Env(vars.ToArray())));
        Assert.Equal(ExitCode.Usage, e.Code);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void Slurm_AnIrregularArray_IsRefused()
    {
        // --array=1,3,7: three tasks that are not evenly spaced from the minimum
        var e = Assert.Throws<SharpLensException>(() => ShardSpec.Parse("slurm", Env(("SLURM_ARRAY_TASK_ID", "7"), ("SLURM_ARRAY_TASK_COUNT", "3"),
            ("SLURM_ARRAY_TASK_MIN", "1"), ("SLURM_ARRAY_TASK_STEP", "1"))));
        Assert.Contains("sbatch --array=0-2", e.Message);
    }

    [Theory]
    [InlineData(10, 1)]
    [InlineData(10, 3)]
    [InlineData(3, 5)]
    [InlineData(0, 2)]
    [InlineData(101, 7)]
    public void BlocksAndDeals_PartitionTheWork(int total, int count)
    {
        var items = Enumerable.Range(0, total).ToList();
        var blocks = Enumerable.Range(0, count).Select(i => new ShardSpec(i, count).Block(total)).ToList();
        Assert.Equal(items, blocks.SelectMany(b => Enumerable.Range(b.Start, b.End - b.Start)));   // contiguous, in order
        Assert.True(blocks.Max(b => b.End - b.Start) - blocks.Min(b => b.End - b.Start) <= 1);
        var dealt = Enumerable.Range(0, count).SelectMany(i => new ShardSpec(i, count).Deal(items)).Order();
        Assert.Equal(items, dealt);
    }

    [Theory]
    [InlineData(10, 3, 4)]
    [InlineData(10, 3, 1)]
    [InlineData(16, 2, 8)]
    [InlineData(5, 3, 8)]
    [InlineData(101, 7, 8)]
    [InlineData(0, 2, 8)]
    public void TiledBlocks_PartitionTheWork_InWholeTiles(int total, int count, int tile)
    {
        var blocks = Enumerable.Range(0, count).Select(i => new ShardSpec(i, count).Block(total, tile)).ToList();
        Assert.Equal(Enumerable.Range(0, total), blocks.SelectMany(b => Enumerable.Range(b.Start, b.End - b.Start)));
        Assert.All(blocks, b => Assert.True(b.Start == b.End || b.Start % tile == 0 && (b.End % tile == 0 || b.End == total), $"{b} cuts a tile of {tile}"));
        var tiles = blocks.Select(b => (b.End - b.Start + tile - 1) / tile).ToList();
        Assert.True(tiles.Max() - tiles.Min() <= 1, string.Join(",", tiles));
        if (tile == 1) Assert.Equal(Enumerable.Range(0, count).Select(i => new ShardSpec(i, count).Block(total)), blocks);
    }

    [Fact]
    public void PairStudy_DealsTheChosenExperiments_EachShardWithTheBaselines()
    {
        var chosen = StudyExperiments.Select("resid_patch,head_patch,dla,ablation,logit_lens", null);
        var slices = Enumerable.Range(0, 3).Select(i => StudyShard.Experiments(chosen, new ShardSpec(i, 3))).ToList();
        Assert.All(slices, s => Assert.Contains(StudyExperiments.Baselines, s));
        var work = slices.SelectMany(s => s.Where(e => e != StudyExperiments.Baselines)).ToList();
        Assert.Equal(chosen.Where(e => e != StudyExperiments.Baselines).Order(), work.Order());   // each once
        Assert.Equal(["baselines", "head_patch", "logit_lens"], slices[1].Order());               // round-robin in study order
        Assert.Equal(["baselines"], StudyShard.Experiments(chosen, new ShardSpec(7, 8)).ToList()); // more shards than work
    }
}
