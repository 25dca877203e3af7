/*
 * stemhost's test plugins, one VST3 per build (DistrhoPluginInfo.h picks which), on Debian's dpf-source:
 *   StemhostGain     stereo; parameter Gain in dB (-24..+24, default -6): out = in * 10^(gain/20), exactly
 *   StemhostLatency  stereo; reports 1000 frames of latency and delays its audio by exactly that
 *   StemhostMono     one input, one output: out = in * 0.5
 *   StemhostAbort    calls abort() when instantiated (a plugin that crashes its host)
 *   StemhostHang     sleeps forever when instantiated (a plugin that never loads)
 * Built by tests/plugin_builds.py; GPL-3.0-or-later like stemhost.
 */
#include "DistrhoPlugin.hpp"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <unistd.h>

START_NAMESPACE_DISTRHO

static const uint32_t kLatencyFrames = 1000;

class StemhostTestPlugin : public Plugin
{
public:
    StemhostTestPlugin()
        : Plugin(kParameterCount, 0, 0), fGainDb(-6.0f), fWrite(0)
    {
#if defined(STEMHOST_ABORT)
        std::abort();
#elif defined(STEMHOST_HANG)
        for (;;)
            sleep(3600);
#endif
#if defined(STEMHOST_LATENCY)
        setLatency(kLatencyFrames);
#endif
        std::memset(fDelay, 0, sizeof(fDelay));
    }

protected:
    const char* getLabel() const override { return DISTRHO_PLUGIN_NAME; }
    const char* getDescription() const override { return "A test plugin of stemhost"; }
    const char* getMaker() const override { return "stemhost"; }
    const char* getLicense() const override { return "GPL-3.0-or-later"; }
    uint32_t getVersion() const override { return d_version(1, 2, 3); }

    int64_t getUniqueId() const override
    {
#if defined(STEMHOST_GAIN)
        return d_cconst('s', 'h', 'G', 'n');
#elif defined(STEMHOST_LATENCY)
        return d_cconst('s', 'h', 'L', 't');
#elif defined(STEMHOST_MONO)
        return d_cconst('s', 'h', 'M', 'o');
#elif defined(STEMHOST_ABORT)
        return d_cconst('s', 'h', 'A', 'b');
#else
        return d_cconst('s', 'h', 'H', 'g');
#endif
    }

    void initParameter(uint32_t index, Parameter& parameter) override
    {
        if (index != 0)
            return;
        parameter.hints = kParameterIsAutomatable;
        parameter.name = "Gain";
        parameter.symbol = "gain";
        parameter.unit = "dB";
        parameter.ranges.def = -6.0f;
        parameter.ranges.min = -24.0f;
        parameter.ranges.max = 24.0f;
    }

    float getParameterValue(uint32_t index) const override { return index == 0 ? fGainDb : 0.0f; }

    void setParameterValue(uint32_t index, float value) override
    {
        if (index == 0)
            fGainDb = value;
    }

    void activate() override
    {
        std::memset(fDelay, 0, sizeof(fDelay));
        fWrite = 0;
    }

    void run(const float** inputs, float** outputs, uint32_t frames) override
    {
#if defined(STEMHOST_GAIN)
        const float gain = static_cast<float>(std::pow(10.0, fGainDb / 20.0));
        for (uint32_t c = 0; c < DISTRHO_PLUGIN_NUM_OUTPUTS; ++c)
            for (uint32_t i = 0; i < frames; ++i)
                outputs[c][i] = inputs[c][i] * gain;
#elif defined(STEMHOST_LATENCY)
        for (uint32_t i = 0; i < frames; ++i)
        {
            for (uint32_t c = 0; c < 2; ++c)
            {
                const float in = inputs[c][i];  // read before writing: the host may process in place
                outputs[c][i] = fDelay[c][fWrite];
                fDelay[c][fWrite] = in;
            }
            fWrite = (fWrite + 1) % kLatencyFrames;
        }
#else
        for (uint32_t c = 0; c < DISTRHO_PLUGIN_NUM_OUTPUTS; ++c)
            for (uint32_t i = 0; i < frames; ++i)
                outputs[c][i] = inputs[c][i] * 0.5f;
#endif
    }

private:
#if defined(STEMHOST_GAIN)
    static const uint32_t kParameterCount = 1;
#else
    static const uint32_t kParameterCount = 0;
#endif
    float fGainDb;
    float fDelay[2][kLatencyFrames];
    uint32_t fWrite;

    DISTRHO_DECLARE_NON_COPYABLE_WITH_LEAK_DETECTOR(StemhostTestPlugin)
};

Plugin* createPlugin()
{
    return new StemhostTestPlugin();
}

END_NAMESPACE_DISTRHO
