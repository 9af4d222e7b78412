// One utterance's audio, put back in order before it reaches the player.
//
// Chunks are placed by their `t` (sample index = round(t × rate)), not by arrival. Take()
// hands out the audio that is contiguous from the last sample handed out; nothing is handed
// out until `prebuffer` seconds are contiguous (or the utterance has ended), so one late
// packet at the start doesn't starve the player. A missing chunk is waited for while less than
// `max_gap_wait` seconds are buffered beyond it; after that (or once the utterance ended) the
// hole becomes silence and a chunk arriving for it later is dropped as late. Audio never goes
// backwards: the player's clock and the curves' clock stay one clock.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "TalkBridgeProtocol/Api.h"

namespace talkbridge {

struct JitterConfig {
    int sample_rate = 48000;
    double prebuffer = 0.1;     ///< seconds contiguous before the first Take() returns audio
    double max_gap_wait = 0.25; ///< seconds buffered past a hole before it becomes silence
};

struct JitterStats {
    std::int64_t late_chunks = 0;      ///< arrived after their span was handed out (dropped)
    std::int64_t duplicate_chunks = 0; ///< same start as a buffered chunk (dropped)
    std::int64_t silence_samples = 0;  ///< holes filled with silence
};

class TALKBRIDGEPROTOCOL_API AudioJitterBuffer {
public:
    enum class AddResult { Accepted, Duplicate, Late };

    explicit AudioJitterBuffer(JitterConfig config = {}) : config_(config) {}

    AddResult Add(double t, std::vector<std::int16_t> samples);
    /// No more audio will come: holes become silence, the prebuffer no longer applies.
    void MarkEnded() { ended_ = true; }
    bool Ended() const { return ended_; }

    /// Appends the audio that may play now to `out`; returns how many samples were appended.
    std::size_t Take(std::vector<std::int16_t>& out);

    /// Samples handed out so far: the end of the audio clock the player has been given.
    std::int64_t Released() const { return released_; }
    std::int64_t BufferedSamples() const;
    /// Ended, and everything handed out.
    bool Drained() const { return ended_ && pending_.empty(); }
    const JitterStats& Stats() const { return stats_; }

private:
    bool ReadyToStart() const;
    std::int64_t ContiguousFromCursor() const;

    JitterConfig config_;
    JitterStats stats_;
    std::map<std::int64_t, std::vector<std::int16_t>> pending_;  ///< start sample → samples
    std::int64_t released_ = 0;
    bool started_ = false;
    bool ended_ = false;
};

}  // namespace talkbridge
