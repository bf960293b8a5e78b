using SharpLens.Model;
using Xunit;

namespace SharpLens.Tests.Model;

public class TensorPoolTests
{
    [Fact]
    public void AReturnedArrayIsRentedAgainAtItsOwnLengthOnly()
    {
        var pool = new TensorPool();
        var a = pool.Rent(5000);
        Assert.Equal(5000, a.Length);
        pool.Return(a);
        Assert.Equal(5000L * sizeof(float), pool.Bytes);
        Assert.NotSame(a, pool.Rent(5001));
        Assert.Same(a, pool.Rent(5000));
        Assert.Equal(0, pool.Bytes);
        Assert.NotSame(a, pool.Rent(5000));                                // held by its renter now
    }

    [Fact]
    public void RentZeroedClearsWhatTheLastUserLeft()
    {
        var pool = new TensorPool();
        var a = pool.Rent(2048);
        a.AsSpan().Fill(3f);
        pool.Return(a);
        var b = pool.RentZeroed(2048);
        Assert.Same(a, b);
        Assert.All(b, v => Assert.Equal(0f, v));
    }

    [Fact]
    public void ASecondReturnOfOneArrayIsIgnored()
    {
        var pool = new TensorPool();
        var a = pool.Rent(2048);
        pool.Return(a);
        pool.Return(a);
        Assert.Equal(2048L * sizeof(float), pool.Bytes);
        Assert.Same(a, pool.Rent(2048));
        Assert.NotSame(a, pool.Rent(2048));                                // not handed out twice
    }

    [Fact]
    public void PastTheBoundArraysOfOtherLengthsAreEvictedFirst()
    {
        var pool = new TensorPool { MaxBytes = 3000L * sizeof(float) };
        var a = pool.Rent(2000); var b = pool.Rent(1500);
        pool.Return(a);
        pool.Return(b);                                                    // 3,500 floats would pass the bound: a goes
        Assert.Equal(1500L * sizeof(float), pool.Bytes);
        Assert.NotSame(a, pool.Rent(2000));
        Assert.Same(b, pool.Rent(1500));
    }

    [Fact]
    public void APoisoningPoolFillsWhatItTakesBackWithNaN()
    {
        var pool = new TensorPool { PoisonReturned = true };
        var a = pool.Rent(2048);
        a.AsSpan().Fill(1f);
        pool.Return(a);
        Assert.All(pool.Rent(2048), v => Assert.True(float.IsNaN(v)));
    }

    [Fact]
    public void SmallArraysAndArraysPastTheBoundAreLeftToTheGc()
    {
        var pool = new TensorPool { MaxBytes = 3000L * sizeof(float) };
        pool.Return(new float[TensorPool.MinLength - 1]);
        Assert.Equal(0, pool.Bytes);
        pool.Return(new float[2000]);
        pool.Return(new float[2000]);                                      // would pass MaxBytes
        Assert.Equal(2000L * sizeof(float), pool.Bytes);
        pool.Clear();
        Assert.Equal(0, pool.Bytes);
    }
}
