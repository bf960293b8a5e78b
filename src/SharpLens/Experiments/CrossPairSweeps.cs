using System.Runtime.ExceptionServices;

namespace SharpLens.Experiments;

/// <summary>
/// Runs the single-pair studies of a group of pairs (of one token length) so that their sweeps share batched forwards.
/// Each pair's study runs on its own thread, but only one thread works at a time (a baton passed in pair order), so the
/// studies never race on the model's buffers and the order of work is fixed: a pair runs until it asks for a sweep
/// (<see cref="PatchSweep.Run(IReadOnlyList{IReadOnlyList{Intervention}}, Func{ReadOnlySpan{float}, double})"/> or
/// <see cref="PatchSweep.RunPaired"/> on a sweep of its <see cref="StudyRuns"/>) or finishes, then hands the baton on; when every unfinished pair waits on a
/// sweep, their sweeps run as one (<see cref="PatchSweep.RunAcross"/>, <see cref="PatchSweep.RunPairedAcross"/>). So the k-th sweep of every pair that has one runs
/// with the others' k-th: pairs of one dataset ask for the same sweeps in the same order, whose rows then fill the same
/// batches. What goes through neither (base runs, AtP, path patching's readouts, DLA) runs pair by pair.
/// </summary>
internal sealed class CrossPairSweeps
{
    enum State { Ready, Waiting, Done }

    readonly object _gate = new();
    readonly State[] _state;
    readonly object?[] _pending;   // a SweepRequest or a PairedRequest
    readonly object?[] _answers;   // double[] or (double[], double[])
    readonly ExceptionDispatchInfo?[] _errors;
    int _turn;   // the participant holding the baton; −1 when every one is done

    CrossPairSweeps(int count)
    {
        _state = new State[count]; _pending = new object?[count]; _answers = new object?[count];
        _errors = new ExceptionDispatchInfo?[count];
    }

    /// <summary>A pair's handle: what its sweeps call instead of running alone.</summary>
    internal sealed class Participant(CrossPairSweeps group, int index)
    {
        internal double[] Run(PatchSweep sweep, IReadOnlyList<IReadOnlyList<Intervention>> items, Func<ReadOnlySpan<float>, double> metric) =>
            (double[])group.Submit(index, new SweepRequest(sweep, items, metric));

        internal (double[] Own, double[] Other) RunPaired(PairedRequest request) => ((double[], double[]))group.Submit(index, request);
    }

    /// <summary>
    /// Runs <paramref name="work"/>(i, participant) for i in [0, count), each on its own thread with the baton, and
    /// returns their results in order; the first exception (in pair order) is rethrown after every pair has stopped.
    /// </summary>
    internal static T[] Run<T>(int count, Func<int, Participant, T> work)
    {
        var group = new CrossPairSweeps(count);
        var results = new T[count];
        var errors = new ExceptionDispatchInfo?[count];
        var threads = Enumerable.Range(0, count).Select(i => new Thread(() =>
        {
            try
            {
                group.WaitForTurn(i);
                results[i] = work(i, new Participant(group, i));
            }
            catch (Exception e) { errors[i] = ExceptionDispatchInfo.Capture(e); }
            finally { group.Finish(i); }
        }, maxStackSize: 16 << 20) { IsBackground = true, Name = $"SharpLens dataset pair {i}" }).ToList();
        foreach (var t in threads) t.Start();
        foreach (var t in threads) t.Join();
        errors.FirstOrDefault(e => e != null)?.Throw();
        return results;
    }

    void WaitForTurn(int i)
    {
        lock (_gate)
            while (_turn != i) Monitor.Wait(_gate);
    }

    object Submit(int i, object request)
    {
        lock (_gate)
        {
            _pending[i] = request;
            _state[i] = State.Waiting;
            PassOn(i);
            while (_turn != i) Monitor.Wait(_gate);
            var (answer, error) = (_answers[i], _errors[i]);
            (_answers[i], _errors[i]) = (null, null);
            error?.Throw();
            return answer!;
        }
    }

    void Finish(int i)
    {
        lock (_gate)
        {
            _state[i] = State.Done;
            if (_turn == i) PassOn(i);
        }
    }

    /// <summary>Gives the baton to the next ready participant after <paramref name="from"/>; when none is ready, runs
    /// every waiting sweep together (on this thread, under the gate: every other thread waits anyway) and starts the
    /// next round from the first participant.</summary>
    void PassOn(int from)
    {
        int n = _state.Length;
        for (int k = 1; k <= n; k++)
        {
            int j = (from + k) % n;
            if (_state[j] == State.Ready) { Hand(j); return; }
        }
        var waiting = Enumerable.Range(0, n).Where(j => _state[j] == State.Waiting).ToList();
        if (waiting.Count == 0) { Hand(-1); return; }
        try
        {
            // one batch run per kind: plain sweeps (RunAcross), and paired clean/corrupted sweeps (RunPairedAcross)
            var plain = waiting.Where(j => _pending[j] is SweepRequest).ToList();
            var paired = waiting.Where(j => _pending[j] is PairedRequest).ToList();
            if (plain.Count > 0)
            {
                var answers = PatchSweep.RunAcross(plain.Select(j => (SweepRequest)_pending[j]!).ToList());
                for (int k = 0; k < plain.Count; k++) _answers[plain[k]] = answers[k];
            }
            if (paired.Count > 0)
            {
                var answers = PatchSweep.RunPairedAcross(paired.Select(j => (PairedRequest)_pending[j]!).ToList());
                for (int k = 0; k < paired.Count; k++) _answers[paired[k]] = answers[k];
            }
        }
        catch (Exception e)
        {
            foreach (int j in waiting) _errors[j] = ExceptionDispatchInfo.Capture(e);
        }
        foreach (int j in waiting) { _state[j] = State.Ready; _pending[j] = null; }
        Hand(waiting[0]);
    }

    void Hand(int j)
    {
        _turn = j;
        Monitor.PulseAll(_gate);
    }
}
