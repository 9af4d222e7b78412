#include "TalkBridgeAudioPlayer.h"

#include "Components/AudioComponent.h"
#include "Sound/SoundWaveProcedural.h"

void UTalkBridgeAudioPlayer::Start(UAudioComponent* Component, int32 SampleRate)
{
	AudioComponent = Component;
	Rate = SampleRate;
	Wave = NewObject<USoundWaveProcedural>(this);
	Wave->SetSampleRate(static_cast<uint32>(SampleRate));
	Wave->NumChannels = 1;
	Wave->Duration = INDEFINITELY_LOOPING_DURATION;
	Wave->SoundGroup = SOUNDGROUP_Voice;
	Wave->bLooping = false;
	Clock = talkbridge::PullClock(SampleRate);
	Held.Reset();
	if (AudioComponent)
	{
		AudioComponent->SetSound(Wave);
		AudioComponent->Play();
	}
}

void UTalkBridgeAudioPlayer::Queue(const std::vector<int16_t>& Samples)
{
	if (!Wave || Samples.empty())
	{
		return;
	}
	Held.Append(Samples.data(), static_cast<int32>(Samples.size()));
	ReleaseHeld();
}

void UTalkBridgeAudioPlayer::ReleaseHeld()
{
	if (AudioComponent && Held.Num() > 0 && !AudioComponent->IsPlaying())
	{
		AudioComponent->Play();  // a stopped source never pulls: the reset would never come
	}
	if (!Wave || Held.Num() == 0 || !Clock.CanQueue())
	{
		return;
	}
	// PCM16 little-endian, as every platform Unreal ships on stores int16.
	Wave->QueueAudio(reinterpret_cast<const uint8*>(Held.GetData()), Held.Num() * static_cast<int32>(sizeof(int16)));
	Clock.Queue(static_cast<int64>(Held.Num()));
	Held.Reset();
}

void UTalkBridgeAudioPlayer::Flush()
{
	Held.Reset();
	if (!Wave)
	{
		return;
	}
	const int64 Waiting = Wave->GetAvailableAudioByteCount() / static_cast<int64>(sizeof(int16_t));
	if (Clock.Flush(Waiting))
	{
		Wave->ResetAudio();  // done at the mixer's next pull; Queue holds new audio until then
	}
}

int64 UTalkBridgeAudioPlayer::PlayedSamples(double Now)
{
	if (!Wave)
	{
		return 0;
	}
	const int64 Waiting = Wave->GetAvailableAudioByteCount() / static_cast<int64>(sizeof(int16_t));
	Clock.Observe(Now, Waiting, OutputLatency);
	ReleaseHeld();
	return Clock.PlayedSinceFlush();
}
