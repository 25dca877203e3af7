/*
 * stemhost's test plugins: which one this build is (DPF reads this header by name).
 * The build passes one of -DSTEMHOST_GAIN, -DSTEMHOST_LATENCY, -DSTEMHOST_MONO, -DSTEMHOST_ABORT, -DSTEMHOST_HANG;
 * the plugins themselves are in test_plugins.cpp. Built by tests/plugin_builds.py.
 */
#ifndef DISTRHO_PLUGIN_INFO_H_INCLUDED
#define DISTRHO_PLUGIN_INFO_H_INCLUDED

#define DISTRHO_PLUGIN_BRAND "stemhost"
#define DISTRHO_PLUGIN_HAS_UI 0
#define DISTRHO_PLUGIN_IS_RT_SAFE 1

#if defined(STEMHOST_GAIN)
# define DISTRHO_PLUGIN_NAME "StemhostGain"
# define DISTRHO_PLUGIN_URI "urn:stemhost:test:gain"
# define DISTRHO_PLUGIN_NUM_INPUTS 2
# define DISTRHO_PLUGIN_NUM_OUTPUTS 2
# define DISTRHO_PLUGIN_VST3_CATEGORIES "Fx|Tools|Stereo"
#elif defined(STEMHOST_LATENCY)
# define DISTRHO_PLUGIN_NAME "StemhostLatency"
# define DISTRHO_PLUGIN_URI "urn:stemhost:test:latency"
# define DISTRHO_PLUGIN_NUM_INPUTS 2
# define DISTRHO_PLUGIN_NUM_OUTPUTS 2
# define DISTRHO_PLUGIN_WANT_LATENCY 1
# define DISTRHO_PLUGIN_VST3_CATEGORIES "Fx|Delay|Stereo"
#elif defined(STEMHOST_MONO)
# define DISTRHO_PLUGIN_NAME "StemhostMono"
# define DISTRHO_PLUGIN_URI "urn:stemhost:test:mono"
# define DISTRHO_PLUGIN_NUM_INPUTS 1
# define DISTRHO_PLUGIN_NUM_OUTPUTS 1
# define DISTRHO_PLUGIN_VST3_CATEGORIES "Fx|Tools|Mono"
#elif defined(STEMHOST_ABORT)
# define DISTRHO_PLUGIN_NAME "StemhostAbort"
# define DISTRHO_PLUGIN_URI "urn:stemhost:test:abort"
# define DISTRHO_PLUGIN_NUM_INPUTS 2
# define DISTRHO_PLUGIN_NUM_OUTPUTS 2
#elif defined(STEMHOST_HANG)
# define DISTRHO_PLUGIN_NAME "StemhostHang"
# define DISTRHO_PLUGIN_URI "urn:stemhost:test:hang"
# define DISTRHO_PLUGIN_NUM_INPUTS 2
# define DISTRHO_PLUGIN_NUM_OUTPUTS 2
#else
# error "define one of STEMHOST_GAIN, STEMHOST_LATENCY, STEMHOST_MONO, STEMHOST_ABORT, STEMHOST_HANG"
#endif

#endif
