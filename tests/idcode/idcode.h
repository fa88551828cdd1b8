/* idcode — the camera ID code burned into every fakecam frame and read back by idread.
 * Pure (no I/O, no clock, no allocation); any thread. Format, geometry and the false-accept
 * argument are specified in docs/design/fakecam.md; the invariant is: read never guesses —
 * any ambiguous cell, bad sync or check mismatch is FALSE, never a different code. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Geometry, as fractions of the frame so it survives any scaling without cropping:
 * two bands at the top of the frame, each NVR_IDCODE_CELLS cells of width/40 across and
 * height/20 tall.  Band 0 (rows [0, h/20)) carries the camera code, band 1 (rows
 * [h/20, 2h/20)) the frame counter.  Nothing else in the frame may be drawn there. */
#define NVR_IDCODE_CELLS 40
#define NVR_IDCODE_ROW_DIVISOR 20
#define NVR_IDCODE_BANDS 2
#define NVR_IDCODE_COUNTER_BITS 20
#define NVR_IDCODE_COUNTER_MASK ((1u << NVR_IDCODE_COUNTER_BITS) - 1)

/* Frames smaller than this cannot hold 3-pixel cells; larger than the max are refused. */
#define NVR_IDCODE_MIN_WIDTH 120
#define NVR_IDCODE_MIN_HEIGHT 60
#define NVR_IDCODE_MAX_DIM 16384

/* Luma levels drawn (video range). */
#define NVR_IDCODE_BLACK 16
#define NVR_IDCODE_WHITE 235

/* Height in rows of the area the code occupies (both bands) for a frame @height rows tall:
 * motion tests mask [0, nvr_idcode_band_rows (h)) because the counter changes every frame. */
int nvr_idcode_band_rows (int height);

/* Draws @code and @counter (low 20 bits) into the top bands of an 8-bit luma plane.
 * Does nothing if the geometry is out of range (see the limits above). */
void nvr_idcode_draw (guint8 *luma, int width, int height, int stride,
                      guint16 code, guint32 counter);

/* Reads the code and counter back.  Returns FALSE (outputs untouched) when the geometry is
 * out of range, a sync cell is wrong, any cell is ambiguous, the contrast is too low, or a
 * check fails.  @counter may be NULL. */
gboolean nvr_idcode_read (const guint8 *luma, int width, int height, int stride,
                          guint16 *code, guint32 *counter);

/* CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) over @len bytes; exposed for the tests. */
guint16 nvr_idcode_crc16 (const guint8 *data, gsize len);

G_END_DECLS
