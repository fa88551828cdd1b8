/* control — fakecam's test-control socket: a unix stream socket taking newline-terminated text
 * commands, one reply line each ("OK", "ERR <reason>", or the status JSON). The parser is pure;
 * the socket runs on the main loop and calls the handler there. Lines are bounded
 * (FC_CONTROL_MAX_LINE); a peer that sends longer lines or stops reading is disconnected. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define FC_CONTROL_MAX_LINE 256
#define FC_CONTROL_MAX_CLIENTS 16

typedef enum {
  FC_CMD_DROP,       /* drop <i>|all */
  FC_CMD_RESTORE,    /* restore <i>|all */
  FC_CMD_SWAP,       /* swap <a> <b> */
  FC_CMD_UNSWAP,     /* unswap <a>|all */
  FC_CMD_STATUS,     /* status */
  FC_CMD_GARBAGE,    /* garbage <i>|all off|rtp|truncate|resize|audio-rtp|audio-stop */
} FcCommandKind;

/* What a camera sends instead of a clean stream (docs/design/fakecam.md §5). */
typedef enum {
  FC_GARBAGE_OFF,       /* the clean stream */
  FC_GARBAGE_RTP,       /* random bytes overwritten in RTP payloads, some payloads all random */
  FC_GARBAGE_TRUNCATE,  /* a few packets per session, cut mid-NAL, then nothing (stall) */
  FC_GARBAGE_RESIZE,    /* resolution changes every 2 s (main and sub clips alternate) */
  FC_GARBAGE_AUDIO_RTP, /* audio stream only: random RTP payloads; video stays clean */
  FC_GARBAGE_AUDIO_STOP,/* audio stream only: no more audio packets; video stays clean */
} FcGarbageMode;

/* "off", "rtp", ...; NULL for an out-of-range value. */
const char *fc_garbage_mode_name (FcGarbageMode mode);

typedef struct {
  FcCommandKind kind;
  int a;             /* camera index 1..n, or 0 for "all" (drop, restore, unswap) */
  int b;             /* swap: the camera whose streams answer on a's paths; garbage: the mode */
} FcCommand;

/* Parses one line (without its newline) for a server with @n_cameras cameras. Pure. */
gboolean fc_command_parse (const char *line, int n_cameras, FcCommand *cmd, GError **error);

/* Runs @cmd; returns the reply line without newline ("OK", "ERR ...", or JSON). */
typedef char *(*FcControlHandler) (const FcCommand *cmd, gpointer user_data);

typedef struct _FcControl FcControl;

/* Listens on @path (a stale socket file there is replaced); commands name cameras
 * 1..@n_cameras. Malformed commands are answered "ERR <reason>" without calling @handler. */
FcControl *fc_control_new (const char *path, int n_cameras, FcControlHandler handler,
                           gpointer user_data, GError **error);
/* Closes the listener and every connection and unlinks the socket path. NULL is fine. */
void fc_control_free (FcControl *control);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (FcControl, fc_control_free)

G_END_DECLS
