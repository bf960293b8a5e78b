using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace SharpLens.Kernels;

/// <summary>
/// Dedicated worker threads for the kernels' parallel loops, in place of <see cref="Parallel.For(int, int, Action{int})"/>.
/// Measured on the 2-vCPU bench machine: with <c>Parallel.For(0, 2, …)</c> the pool's second thread joined a 1 ms loop
/// after a p90 of 41 µs and in 8 % of calls not at all (the calling thread ran both halves, doubling the call), so a
/// 25-row GEMM left the cores idle 15 % of the time (1 % with this pool). Here the workers spin for
/// <see cref="SpinMicroseconds"/> after each job (a forward issues its GEMMs back to back) before they sleep, the items
/// are claimed one at a time from a shared counter (a late or descheduled worker only takes fewer), and the calling
/// thread always works too.
/// </summary>
/// <remarks>
/// One job runs at a time. A caller that finds the workers busy (another thread's kernel, or a kernel called from
/// inside a job) runs its items itself, in order: the kernels split work so that every item writes its own outputs,
/// so the result does not depend on which thread ran an item.
/// </remarks>
internal static class KernelThreads
{
    /// <summary>
    /// How long an idle worker polls for the next job before it blocks: longer than the single-threaded gaps of a
    /// forward (attention, norms: ≤ 0.3 ms at 25 tokens), so that the next GEMM does not wait on a wake-up. Measured
    /// (ParallelLoopBenchmarks, two 0.5 ms halves after a 0.3 ms gap, ideal 0.8 ms): 0.82 ms at 1 ms, 0.95 ms at 100 µs,
    /// 0.88–0.95 ms for Parallel.For.
    /// </summary>
    internal const int SpinMicroseconds = 1000;

    static readonly object Gate = new();      // held by the caller whose job the workers serve
    static readonly object Wake = new();      // Monitor for sleeping workers
    static readonly List<Thread> Workers = [];
    static Job? _current;
    static long _generation;                   // bumped after each publish of _current

    /// <summary>Workers started so far (grow-only; test hook).</summary>
    internal static int WorkerCount { get { lock (Workers) return Workers.Count; } }

    /// <summary>
    /// Runs body(i) for every i in [0, count) on the calling thread and up to threads − 1 workers (at most one thread
    /// per core), and returns when all have finished. The first exception from an item is rethrown here, after the
    /// remaining items have still run — on the workers or inline alike.
    /// </summary>
    public static void For(int count, int threads, Action<int> body)
    {
        // More threads than cores never helps these compute-bound loops; the pool stays at ProcessorCount − 1 workers.
        threads = Math.Min(Math.Min(threads, count), Environment.ProcessorCount);
        if (threads <= 1 || Monitor.IsEntered(Gate) || !Monitor.TryEnter(Gate))
        {
            var inline = new Job(count, 0, body);
            inline.Work();
            inline.Rethrow();
            return;
        }
        try
        {
            EnsureWorkers(threads - 1);
            var job = new Job(count, threads - 1, body);
            Volatile.Write(ref _current, job);
            Interlocked.Increment(ref _generation);
            lock (Wake) Monitor.PulseAll(Wake);
            job.Work();
            job.WaitForItems();
            Volatile.Write(ref _current, null);
            job.Rethrow();
        }
        finally
        {
            Monitor.Exit(Gate);
        }
    }

    static void EnsureWorkers(int wanted)
    {
        lock (Workers)
            while (Workers.Count < wanted)
            {
                var t = new Thread(WorkerLoop) { IsBackground = true, Name = $"SharpLens kernel worker {Workers.Count + 1}" };
                Workers.Add(t);
                t.Start(Workers.Count);
            }
    }

    static void WorkerLoop(object? state)
    {
        int index = (int)state!;  // 1-based: worker i serves jobs that asked for at least i workers
        long seen = Interlocked.Read(ref _generation);
        bool wanted = true;       // whether the last job asked for this worker: only those spin for the next one
        while (true)
        {
            if (!wanted || !SpinUntilNewJob(seen))
                lock (Wake)
                    while (Interlocked.Read(ref _generation) == seen)
                        Monitor.Wait(Wake);
            seen = Interlocked.Read(ref _generation);
            var job = Volatile.Read(ref _current);
            wanted = job != null && index <= job.Helpers;
            if (wanted) job!.Work();
        }
    }

    static bool SpinUntilNewJob(long seen)
    {
        long deadline = Stopwatch.GetTimestamp() + Stopwatch.Frequency * SpinMicroseconds / 1_000_000;
        while (Interlocked.Read(ref _generation) == seen)
        {
            if (Stopwatch.GetTimestamp() > deadline) return false;
            Thread.SpinWait(20);
        }
        return true;
    }

    /// <summary>One parallel loop: items are claimed from <see cref="_next"/>; <see cref="_pending"/> counts unfinished ones.</summary>
    sealed class Job(int count, int helpers, Action<int> body)
    {
        readonly int _count = count;
        int _next = -1, _pending = count;
        ExceptionDispatchInfo? _error;

        /// <summary>How many workers may join (the caller's thread budget minus itself).</summary>
        public int Helpers => helpers;

        public void Work()
        {
            int i;
            while ((i = Interlocked.Increment(ref _next)) < _count)
            {
                try { body(i); }
                catch (Exception e) { Interlocked.CompareExchange(ref _error, ExceptionDispatchInfo.Capture(e), null); }
                Interlocked.Decrement(ref _pending);
            }
        }

        /// <summary>Waits for items claimed by workers (the caller has claimed the rest); never sleeps a whole tick.</summary>
        public void WaitForItems()
        {
            var spinner = new SpinWait();
            while (Volatile.Read(ref _pending) > 0) spinner.SpinOnce(sleep1Threshold: -1);
        }

        public void Rethrow() => _error?.Throw();
    }
}
