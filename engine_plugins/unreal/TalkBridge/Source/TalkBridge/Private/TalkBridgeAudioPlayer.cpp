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
	QueuedSamples = 0;
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
	QueuedSamples += static_cast<int64>(Samples.size());
	if (AudioComponent && !AudioComponent->IsPlaying())
	{
		AudioComponent->Play();
	}
}

void UTalkBridgeAudioPlayer::Flush()
{
	if (Wave)
	{
		Wave->ResetAudio();
	}
	QueuedSamples = 0;
	History.Reset();
}

int64 UTalkBridgeAudioPlayer::PlayedSamples(double Now)
{
	if (!Wave)
	{
		return 0;
	}
	const int64 Waiting = Wave->GetAvailableAudioByteCount() / static_cast<int64>(sizeof(int16_t));
	History.Emplace(Now, FMath::Max<int64>(0, QueuedSamples - Waiting));
	const double HeardAt = Now - OutputLatency;
	int64 Heard = 0;
	int32 Newest = INDEX_NONE;  // the last entry recorded at or before HeardAt
	for (int32 Index = 0; Index < History.Num() && History[Index].Key <= HeardAt; ++Index)
	{
		Heard = History[Index].Value;
		Newest = Index;
	}
	if (Newest > 0)
	{
		History.RemoveAt(0, Newest);  // keep the entry in use, forget the older ones
	}
	return Heard;
}
