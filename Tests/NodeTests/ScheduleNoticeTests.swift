import Testing
@testable import Node

/// The block producer's notice that its key is out of the schedule: once per epoch while it is out, once when it is back.
@Suite struct ScheduleNoticeTests {
    @Test func outOfTheScheduleIsReportedOncePerEpochAndTheReturnOnce() {
        var n = ScheduleNotice()
        #expect(n.update(scheduled: true, epoch: 0) == nil, "a scheduled validator is not told anything at start")
        let out = n.update(scheduled: false, epoch: 0)
        #expect(out?.contains("not in the schedule of epoch 0") == true && out?.contains("tx bond --role validator") == true)
        #expect(n.update(scheduled: false, epoch: 0) == nil)
        #expect(n.update(scheduled: false, epoch: 1)?.contains("epoch 1") == true)
        #expect(n.update(scheduled: true, epoch: 2)?.contains("is in the schedule") == true)
        #expect(n.update(scheduled: true, epoch: 2) == nil)
        #expect(n.update(scheduled: false, epoch: 2)?.contains("epoch 2") == true, "out again in the epoch it came back")
    }
}

/// The status logger's finalized-height line: only when it advances, never at start or when it stays.
@Suite struct FinalizedProgressTests {
    @Test func aLineEachTimeTheFinalizedHeightAdvances() {
        var p = FinalizedProgress()
        #expect(p.update(finalized: 20) == nil, "the first answer is the baseline")
        #expect(p.update(finalized: 20) == nil)
        #expect(p.update(finalized: 30) == "finalized checkpoint at height 30 (was 20)")
        #expect(p.update(finalized: 30) == nil)
        #expect(p.update(finalized: 25) == nil, "a lower answer (a restart's race) is not news")
        #expect(p.update(finalized: 40) == "finalized checkpoint at height 40 (was 30)")
    }
}
