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
	// PCM16 little-endian, as every platform Unreal ships on stores int16.
	Wave->QueueAudio(reinterpret_cast<const uint8*>(Samples.data()), static_cast<int32>(Samples.size() * sizeof(int16_t)));
	Clock.Queue(static_cast<int64>(Samples.size()));
	if (AudioComponent && !AudioComponent->IsPlaying())
	{
		AudioComponent->Play();
	}
}

void UTalkBridgeAudioPlayer::Flush()
{
	if (Wave)
	{
		Wave->ResetAudio();  // takes effect at the mixer's next pull: the clock allows for that
	}
	Clock.Flush();
}

int64 UTalkBridgeAudioPlayer::PlayedSamples(double Now)
{
	if (!Wave)
	{
		return 0;
	}
	const int64 Waiting = Wave->GetAvailableAudioByteCount() / static_cast<int64>(sizeof(int16_t));
	Clock.Observe(Now, Waiting, OutputLatency);
	return Clock.PlayedSinceFlush();
}
