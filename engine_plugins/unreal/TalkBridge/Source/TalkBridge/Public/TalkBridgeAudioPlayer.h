// Plays streamed PCM16 mono through a USoundWaveProcedural on an audio component, and
// reports how much of it has been played: the clock the face is sampled on.
#pragma once

#include "CoreMinimal.h"
#include "UObject/Object.h"

#include <cstdint>
#include <vector>

#include "TalkBridgeProtocol/PullClock.h"

#include "TalkBridgeAudioPlayer.generated.h"

class UAudioComponent;
class USoundWaveProcedural;

UCLASS()
class TALKBRIDGE_API UTalkBridgeAudioPlayer : public UObject
{
	GENERATED_BODY()

public:
	/** Creates the procedural wave at SampleRate and plays it on Component (indefinitely). */
	void Start(UAudioComponent* Component, int32 SampleRate);
	/** Hands Samples to the wave, or holds them while a flush waits for the wave's reset. */
	void Queue(const std::vector<int16_t>& Samples);
	/**
	 * Drops everything queued and restarts the played-samples count at 0. ResetAudio() only
	 * takes effect at the mixer's next pull, which zeroes the wave's count and so would wipe
	 * the count of audio queued before it: talkbridge::PullClock says when that reset has
	 * happened, and until then new audio is held here (at most one mixer pull).
	 */
	void Flush();
	/**
	 * Samples heard by `Now` (seconds, FPlatformTime) since Start or the last Flush. The wave's
	 * waiting count drops a mixer block at a time; talkbridge::PullClock (the protocol core,
	 * tested there) reads between those pulls on the monotonic clock and takes OutputLatency
	 * off. Call once per tick: it also hands over audio held since a flush.
	 */
	int64 PlayedSamples(double Now);
	bool IsStarted() const { return Wave != nullptr; }

	/** Seconds between leaving the FIFO and being heard (mixer buffers); subtracted from the clock. */
	float OutputLatency = 0.02f;

private:
	UPROPERTY()
	TObjectPtr<UAudioComponent> AudioComponent;

	UPROPERTY()
	TObjectPtr<USoundWaveProcedural> Wave;

	void ReleaseHeld();

	talkbridge::PullClock Clock{48000};
	TArray<int16> Held;  ///< audio queued while a flush waits for the wave's reset
	int32 Rate = 48000;
};
