using SharpLens.Kernels;

namespace SharpLens.Tests.Kernels;

/// <summary>The kernels' worker pool: every item once, real parallelism, errors, nesting and concurrent callers.</summary>
public class KernelThreadsTests
{
    static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    [Theory]
    [InlineData(1, 1)]
    [InlineData(7, 2)]
    [InlineData(1000, 2)]
    [InlineData(1000, 4)]
    public void EveryItemRunsExactlyOnce(int count, int threads)
    {
        var runs = new int[count];
        KernelThreads.For(count, threads, i => Interlocked.Increment(ref runs[i]));
        Assert.All(runs, r => Assert.Equal(1, r));
    }

    [Fact]
    public void AWorkerJoinsTheCallingThread()
    {
        var ids = new int[2];
        if (Environment.ProcessorCount < 2)
        {
            // One core: no workers; the caller runs both items.
            KernelThreads.For(2, 2, i => ids[i] = Environment.CurrentManagedThreadId);
            Assert.Equal(ids[0], ids[1]);
            return;
        }
        // Each item waits until both have started: a loop the calling thread ran alone (what Parallel.For did in
        // 8 % of its calls on the bench machine) would wait out the patience and record one thread.
        int started = 0;
        KernelThreads.For(2, 2, i =>
        {
            ids[i] = Environment.CurrentManagedThreadId;
            Interlocked.Increment(ref started);
            SpinWait.SpinUntil(() => Volatile.Read(ref started) == 2, Patience);
        });
        Assert.Equal(2, started);
        Assert.NotEqual(ids[0], ids[1]);
    }

    [Fact]
    public void NoMoreThreadsThanCoresOrTheBudget()
    {
        var seen = new HashSet<int>();
        void Record(int _) { lock (seen) seen.Add(Environment.CurrentManagedThreadId); Thread.SpinWait(2000); }

        KernelThreads.For(400, Environment.ProcessorCount + 3, Record);
        Assert.InRange(KernelThreads.WorkerCount, 0, Environment.ProcessorCount - 1);
        Assert.InRange(seen.Count, 1, Environment.ProcessorCount);

        seen.Clear();
        KernelThreads.For(400, 1, Record);
        Assert.Equal([Environment.CurrentManagedThreadId], seen);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(1)]   // inline, as for a nested call or when another thread holds the workers
    public void AnItemsExceptionReachesTheCaller_AfterTheOtherItemsRan(int threads)
    {
        var runs = new int[50];
        var e = Assert.Throws<InvalidOperationException>(() => KernelThreads.For(runs.Length, threads, i =>
        {
            Interlocked.Increment(ref runs[i]);
            if (i == 17) throw new InvalidOperationException("item 17");
        }));
        Assert.Equal("item 17", e.Message);
        Assert.All(runs, r => Assert.Equal(1, r));
        // The pool is usable afterwards.
        int sum = 0;
        KernelThreads.For(10, 2, i => Interlocked.Add(ref sum, i));
        Assert.Equal(45, sum);
    }

    [Fact]
    public void ANestedLoopRunsInline()
    {
        var runs = new int[8, 8];
        KernelThreads.For(8, 2, i => KernelThreads.For(8, 2, j => Interlocked.Increment(ref runs[i, j])));
        foreach (int r in runs) Assert.Equal(1, r);
    }

    [Fact]
    public void ConcurrentCallersEachGetTheirOwnItems()
    {
        const int Callers = 6, Count = 300;
        var sums = new long[Callers];
        var callers = Enumerable.Range(0, Callers).Select(c => new Thread(() =>
        {
            for (int round = 0; round < 20; round++)
                KernelThreads.For(Count, 2, i => Interlocked.Add(ref sums[c], i + 1));
        })).ToArray();
        foreach (var t in callers) t.Start();
        foreach (var t in callers) Assert.True(t.Join(Patience));
        Assert.All(sums, s => Assert.Equal(20L * Count * (Count + 1) / 2, s));
    }
}
