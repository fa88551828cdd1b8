/* Fuzz target for the MQTT command parser (nvr/mqttcmd.c). Input: topic, a NUL byte, payload.
 * Built as a plain program it replays every file of the directories given on the command line
 * (tests/fuzz/corpus/mqttcmd, a meson test in suite 'fuzz'); built with clang
 * -fsanitize=fuzzer -DNVR_LIBFUZZER it is a libFuzzer target. */
#include <glib.h>
#include <stdint.h>
#include <string.h>

#include "mqttcmd.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const uint8_t *nul = memchr (data, '\0', size);
  gsize tlen = nul ? (gsize) (nul - data) : size;
  g_autofree char *topic = g_strndup ((const char *) data, tlen);
  const uint8_t *payload = nul ? nul + 1 : data + size;
  gsize plen = size - (gsize) (payload - data);
  /* libmosquitto passes a copy of exactly plen bytes; so do we (ASan sees any overread). */
  g_autofree uint8_t *copy = plen ? g_memdup2 (payload, plen) : NULL;
  NvrMqttCommand cmd;
  g_autoptr (GError) error = NULL;
  gboolean ok = nvr_mqttcmd_parse ("hearth", topic, copy, plen, &cmd, &error);
  g_assert (ok == (error == NULL));
  if (ok)
    g_assert (strlen (cmd.camera) >= 1 && strlen (cmd.camera) <= 32);
  else
    g_assert (strlen (error->message) < 1024);
  return 0;
}

#include "fuzz-replay.h"
