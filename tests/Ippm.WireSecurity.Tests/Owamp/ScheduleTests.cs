using Ippm.Security.Schedules;
using Ippm.Wire;
using Ippm.Wire.Control;

namespace Ippm.Tests.Owamp;

/// <summary>
/// The RFC 4656 exponential schedule against the reference test vectors (test spec §7, perfSONAR
/// <c>test/owtvec.c</c>) and against the send times owping actually used in the owamp-open capture.
/// </summary>
public sealed class ScheduleTests
{
    [Theory]
    [InlineData("2872979303ab47eeac028dab3829dab2", 0x00000000_6d27e540ul, 0x00000004_f9d85ec8ul, 0x000f4479_bd317381ul)]
    [InlineData("0102030405060708090a0b0c0d0e0f00", 0x00000000_c2127448ul, 0x00000002_f0d21360ul, 0x000f4336_86466a62ul)]
    [InlineData("deadbeefdeadbeefdeadbeefdeadbeef", 0x00000001_7ef33648ul, 0x00000000_5dfa6001ul, 0x000f416c_8884d2d3ul)]
    [InlineData("feed0feed1feed2feed3feed4feed5ab", 0x00000000_300d1c98ul, 0x00000000_114b480eul, 0x000f3f0b_4b416ec8ul)]
    public void ReferenceVectors(string seed, ulong x1, ulong x10, ulong sumOfMillion)
    {
        using var variates = new ExponentialVariates(SessionId.Parse(seed));
        ulong sum = 0;
        for (int n = 1; n <= 1_000_000; n++)
        {
            ulong x = variates.Next();
            sum += x;
            if (n == 1)
            {
                Assert.Equal(x1, x);
            }
            else if (n == 10)
            {
                Assert.Equal(x10, x);
            }
        }
        Assert.Equal(sumOfMillion, sum);
    }

    [Fact]
    public void ExtraCheckpointsForTheFirstSeed()
    {
        using var variates = new ExponentialVariates(SessionId.Parse("2872979303ab47eeac028dab3829dab2"));
        var checkpoints = new Dictionary<int, (ulong X, ulong Sum)>
        {
            [10] = (0x00000004_f9d85ec8, 0x0000000d_65c2252a),
            [100] = (0x00000002_1fc133c5, 0x00000065_9ec0a4ad),
            [1000] = (0x00000002_4fe2d8a8, 0x000003eb_7d735c01),
        };
        ulong sum = 0;
        for (int n = 1; n <= 1000; n++)
        {
            ulong x = variates.Next();
            sum += x;
            if (checkpoints.TryGetValue(n, out (ulong X, ulong Sum) expected))
            {
                Assert.Equal(expected.X, x);
                Assert.Equal(expected.Sum, sum);
            }
        }
    }

    [Fact]
    public void MultIsThe3232ProductKeepingTheLow64Bits()
    {
        Assert.Equal(0x00000000_80000000ul, SessionSchedule.Mult(0x00000001_00000000, 0x00000000_80000000));
        Assert.Equal(0x00000006_00000000ul, SessionSchedule.Mult(0x00000002_00000000, 0x00000003_00000000));
        Assert.Equal(0x00000000_00000000ul, SessionSchedule.Mult(0x00000000_0000ffff, 0x00000000_0000ffff));
        // (2^63 · 2^40) >> 32 = 2^71: only the low 64 bits survive, as in OWPNum64Mult.
        Assert.Equal(0ul, SessionSchedule.Mult(1ul << 63, 1ul << 40));
        // (2^64 − 1)(2^64 − 2^32) >> 32 = 2^96 − 2^64 − 2^32 + 1 ≡ 0xFFFFFFFF_00000001 (mod 2^64).
        Assert.Equal(0xFFFFFFFF_00000001ul, SessionSchedule.Mult(ulong.MaxValue, 0xFFFFFFFF_00000000));
    }

    [Fact]
    public void ExponentialSlotScalesTheVariateByTheMean()
    {
        var sid = SessionId.Parse("0102030405060708090a0b0c0d0e0f00");
        var mean = NtpTimestamp.FromSeconds(0.25);
        using var variates = new ExponentialVariates(sid);
        using var schedule = new SessionSchedule(sid, [new ScheduleSlot(ScheduleSlotType.Exponential, mean)]);
        for (int i = 0; i < 50; i++)
        {
            Assert.Equal(SessionSchedule.Mult(variates.Next(), mean.Value), schedule.NextDelay());
        }
    }

    [Fact]
    public void FixedSlotsConsumeNoDraws()
    {
        // Slots "1.0e,0f": exponential with mean 1 s, then a fixed 0 s delay.
        var sid = SessionId.Parse("2872979303ab47eeac028dab3829dab2");
        ScheduleSlot[] slots =
        [
            new(ScheduleSlotType.Exponential, NtpTimestamp.FromSeconds(1.0)),
            new(ScheduleSlotType.Fixed, new NtpTimestamp(0)),
        ];
        using var variates = new ExponentialVariates(sid);
        ulong[] x = Enumerable.Range(0, 5).Select(_ => variates.Next()).ToArray();
        Assert.Equal(0x00000000_6d27e540ul, x[0]);

        using var schedule = new SessionSchedule(sid, slots);
        for (int i = 0; i < 5; i++)
        {
            Assert.Equal(x[i], schedule.NextDelay()); // Mult(X, 1.0) = X: draw i, not draw 2i
            Assert.Equal(0ul, schedule.NextDelay());
        }

        ulong[] offsets = SessionSchedule.Offsets(sid, slots, 6);
        Assert.Equal([x[0], x[0], x[0] + x[1], x[0] + x[1], x[0] + x[1] + x[2], x[0] + x[1] + x[2]], offsets);
    }

    [Fact]
    public void FixedSlotsInterleaveWithoutShiftingTheExponentialSequence()
    {
        var sid = SessionId.Parse("deadbeefdeadbeefdeadbeefdeadbeef");
        var mean = new NtpTimestamp(0x00000000_199999a0);
        var fixedDelay = NtpTimestamp.FromSeconds(0.5);
        ulong[] pure = SessionSchedule.Offsets(sid, [new ScheduleSlot(ScheduleSlotType.Exponential, mean)], 4);
        ulong[] mixed = SessionSchedule.Offsets(
            sid,
            [new ScheduleSlot(ScheduleSlotType.Fixed, fixedDelay), new ScheduleSlot(ScheduleSlotType.Exponential, mean), new ScheduleSlot(ScheduleSlotType.Fixed, fixedDelay)],
            12);

        // Packets 1, 4, 7, 10 are exponential; each cycle adds 2 × 0.5 s of fixed delay.
        for (int cycle = 0; cycle < 4; cycle++)
        {
            ulong fixedSoFar = fixedDelay.Value * (ulong)((2 * cycle) + 1);
            Assert.Equal(pure[cycle] + fixedSoFar, mixed[(3 * cycle) + 1]);
        }
        Assert.Equal(fixedDelay.Value, mixed[0]);
    }

    [Fact]
    public void OnlyFixedSlotsIsAPeriodicSchedule()
    {
        var slot = new ScheduleSlot(ScheduleSlotType.Fixed, NtpTimestamp.FromSeconds(0.1));
        ulong[] offsets = SessionSchedule.Offsets(SessionId.Parse("feed0feed1feed2feed3feed4feed5ab"), [slot], 4);
        Assert.Equal([slot.Parameter.Value, 2 * slot.Parameter.Value, 3 * slot.Parameter.Value, 4 * slot.Parameter.Value], offsets);
        Assert.Empty(SessionSchedule.Offsets(default, [slot], 0));
    }

    [Fact]
    public void BadArgumentsThrow()
    {
        Assert.Throws<ArgumentException>(() => new SessionSchedule(default, []));
        Assert.Throws<ArgumentException>(() => new SessionSchedule(default, [new ScheduleSlot((ScheduleSlotType)2, default)]));
        Assert.Throws<ArgumentOutOfRangeException>(() => SessionSchedule.Offsets(default, [new ScheduleSlot(ScheduleSlotType.Fixed, default)], -1));

        var variates = new ExponentialVariates(default);
        variates.Dispose();
        variates.Dispose();
        Assert.Throws<ObjectDisposedException>(() => variates.Next());
    }

    /// <summary>
    /// owamp-open capture: both sessions have Start Time eeb54cbd.87ff79c7 and one exponential slot of mean
    /// 0x199999a0. owping/owampd sent each packet 0.05–0.3 ms after the time our schedule gives, for all ten packets
    /// (after the second packet a wrong counter layout is already off by tens of milliseconds).
    /// </summary>
    [Theory]
    [InlineData("7f000001eeb54cbc92975afa5299ac45", new[] { 0xeeb54cbd_8de7c8d1ul, 0xeeb54cbd_b747d805ul, 0xeeb54cbd_bedaec4aul, 0xeeb54cbd_e7785729ul, 0xeeb54cbd_fb8348f5ul })]
    [InlineData("7f000001eeb54cbc92dcc20d8943d86d", new[] { 0xeeb54cbd_a2a0ec74ul, 0xeeb54cbd_a2fd21fful, 0xeeb54cbd_c7c7b45ful, 0xeeb54cbe_10d8dbceul, 0xeeb54cbe_2837a3dbul })]
    public void MatchesTheSendTimesOfTheReferenceSender(string sid, ulong[] sendTimes)
    {
        const ulong startTime = 0xeeb54cbd_87ff79c7;
        ScheduleSlot[] slots = [new(ScheduleSlotType.Exponential, new NtpTimestamp(0x00000000_199999a0))];
        ulong[] offsets = SessionSchedule.Offsets(SessionId.Parse(sid), slots, sendTimes.Length);
        for (int k = 0; k < sendTimes.Length; k++)
        {
            double lateSeconds = NtpTimestamp.DifferenceSeconds(new NtpTimestamp(sendTimes[k]), new NtpTimestamp(startTime + offsets[k]));
            Assert.InRange(lateSeconds, 0, 0.001);
        }
    }
}
