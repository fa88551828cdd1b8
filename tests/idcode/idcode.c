/* idcode — draws and reads the two-band camera ID code (see idcode.h, docs/design/fakecam.md).
 * Pure; any thread. Invariant: every cell is classified with a margin against references taken
 * from the band's own sync cells; one ambiguous cell or check mismatch rejects the frame. */
#include "idcode.h"

#include <string.h>

/* Each band: 6 sync cells, payload, check, 2 trailer cells = 40 cells.  The sync+trailer cells
 * of each band hold four whites and four blacks (the reference levels); band 1's are the
 * complement of band 0's so a band read in the wrong row fails sync. */
enum {
  SYNC_CELLS = 6,
  TRAILER_FIRST = 38,
  CODE_FIRST = SYNC_CELLS,               /* 16 bits, MSB first */
  CODE_CHECK_FIRST = CODE_FIRST + 16,    /* 16 bits of CRC */
  COUNTER_FIRST = SYNC_CELLS,            /* 20 bits, MSB first */
  COUNTER_CHECK_FIRST = COUNTER_FIRST + NVR_IDCODE_COUNTER_BITS,   /* 12 bits of CRC */
  COUNTER_CHECK_BITS = TRAILER_FIRST - COUNTER_CHECK_FIRST,
};

G_STATIC_ASSERT (CODE_CHECK_FIRST + 16 == TRAILER_FIRST);
G_STATIC_ASSERT (COUNTER_CHECK_BITS == 12);

static const guint8 sync_bits[NVR_IDCODE_BANDS][SYNC_CELLS] = {
  { 1, 1, 0, 1, 0, 0 },
  { 0, 0, 1, 0, 1, 1 },
};
static const guint8 trailer_bits[NVR_IDCODE_BANDS][2] = { { 1, 0 }, { 0, 1 } };

guint16
nvr_idcode_crc16 (const guint8 *data, gsize len)
{
  guint16 crc = 0xFFFF;
  for (gsize i = 0; i < len; i++) {
    crc ^= (guint16) (data[i] << 8);
    for (int b = 0; b < 8; b++)
      crc = (crc & 0x8000) ? (guint16) ((crc << 1) ^ 0x1021) : (guint16) (crc << 1);
  }
  return crc;
}

/* Domain-separated checks: 'H' for the code band; 'C' binds the counter to the code. */
static guint16
code_check (guint16 code)
{
  const guint8 bytes[] = { 'H', code >> 8, code & 0xFF };
  return nvr_idcode_crc16 (bytes, sizeof bytes);
}

static guint16
counter_check (guint16 code, guint32 counter)
{
  const guint8 bytes[] = { 'C', code >> 8, code & 0xFF,
                           (counter >> 16) & 0xFF, (counter >> 8) & 0xFF, counter & 0xFF };
  return nvr_idcode_crc16 (bytes, sizeof bytes) & ((1u << COUNTER_CHECK_BITS) - 1);
}

static void
put_bits (guint8 *cells, int first, int nbits, guint32 value)
{
  for (int i = 0; i < nbits; i++)
    cells[first + i] = (value >> (nbits - 1 - i)) & 1;
}

static guint32
get_bits (const guint8 *cells, int first, int nbits)
{
  guint32 v = 0;
  for (int i = 0; i < nbits; i++)
    v = (v << 1) | cells[first + i];
  return v;
}

/* The 40 cell values of both bands for (code, counter). */
static void
layout (guint16 code, guint32 counter, guint8 cells[NVR_IDCODE_BANDS][NVR_IDCODE_CELLS])
{
  counter &= NVR_IDCODE_COUNTER_MASK;
  for (int band = 0; band < NVR_IDCODE_BANDS; band++) {
    memcpy (cells[band], sync_bits[band], SYNC_CELLS);
    memcpy (cells[band] + TRAILER_FIRST, trailer_bits[band], 2);
  }
  put_bits (cells[0], CODE_FIRST, 16, code);
  put_bits (cells[0], CODE_CHECK_FIRST, 16, code_check (code));
  put_bits (cells[1], COUNTER_FIRST, NVR_IDCODE_COUNTER_BITS, counter);
  put_bits (cells[1], COUNTER_CHECK_FIRST, COUNTER_CHECK_BITS, counter_check (code, counter));
}

static gboolean
geometry_ok (int width, int height, int stride)
{
  return width >= NVR_IDCODE_MIN_WIDTH && height >= NVR_IDCODE_MIN_HEIGHT &&
         width <= NVR_IDCODE_MAX_DIM && height <= NVR_IDCODE_MAX_DIM && stride >= width;
}

/* Cell boundaries: exact integer fractions of the frame, so draw and read agree at any size. */
static int cell_x (int width, int k) { return (int) ((gint64) k * width / NVR_IDCODE_CELLS); }
static int band_y (int height, int r) { return (int) ((gint64) r * height / NVR_IDCODE_ROW_DIVISOR); }

int
nvr_idcode_band_rows (int height)
{
  return band_y (height, NVR_IDCODE_BANDS);
}

void
nvr_idcode_draw (guint8 *luma, int width, int height, int stride, guint16 code, guint32 counter)
{
  guint8 cells[NVR_IDCODE_BANDS][NVR_IDCODE_CELLS];

  g_return_if_fail (luma != NULL);
  if (!geometry_ok (width, height, stride))
    return;
  layout (code, counter, cells);
  for (int band = 0; band < NVR_IDCODE_BANDS; band++) {
    for (int y = band_y (height, band); y < band_y (height, band + 1); y++) {
      guint8 *row = luma + (gsize) y * (gsize) stride;
      for (int k = 0; k < NVR_IDCODE_CELLS; k++)
        memset (row + cell_x (width, k), cells[band][k] ? NVR_IDCODE_WHITE : NVR_IDCODE_BLACK,
                (gsize) (cell_x (width, k + 1) - cell_x (width, k)));
    }
  }
}

/* Mean luma (x16, to keep a fraction) of the middle half of a cell in both directions: the
 * edges are where scaling and JPEG blur neighbouring cells together. */
static int
cell_mean_x16 (const guint8 *luma, int stride, int x0, int x1, int y0, int y1)
{
  int ix0 = x0 + (x1 - x0) / 4, ix1 = x1 - (x1 - x0) / 4;
  int iy0 = y0 + (y1 - y0) / 4, iy1 = y1 - (y1 - y0) / 4;
  guint64 sum = 0;

  if (ix1 <= ix0)
    ix1 = ix0 + 1;
  if (iy1 <= iy0)
    iy1 = iy0 + 1;
  for (int y = iy0; y < iy1; y++) {
    const guint8 *row = luma + (gsize) y * (gsize) stride;
    for (int x = ix0; x < ix1; x++)
      sum += row[x];
  }
  return (int) (sum * 16 / ((guint64) (ix1 - ix0) * (guint64) (iy1 - iy0)));
}

/* Minimum white-black difference of the references (x16): a washed-out frame is unreadable. */
#define MIN_CONTRAST_X16 (48 * 16)

/* Classifies one band's cells.  FALSE if the contrast is too low, any cell lies in the middle
 * 40 % between the references, or the sync/trailer cells do not match. */
static gboolean
read_band (const guint8 *luma, int width, int height, int stride, int band,
           guint8 cells[NVR_IDCODE_CELLS])
{
  int mean[NVR_IDCODE_CELLS];
  int white = 0, black = 0, nwhite = 0, nblack = 0;
  int y0 = band_y (height, band), y1 = band_y (height, band + 1);

  for (int k = 0; k < NVR_IDCODE_CELLS; k++)
    mean[k] = cell_mean_x16 (luma, stride, cell_x (width, k), cell_x (width, k + 1), y0, y1);

  for (int k = 0; k < NVR_IDCODE_CELLS; k++) {
    int expected;
    if (k < SYNC_CELLS)
      expected = sync_bits[band][k];
    else if (k >= TRAILER_FIRST)
      expected = trailer_bits[band][k - TRAILER_FIRST];
    else
      continue;
    if (expected) {
      white += mean[k];
      nwhite++;
    } else {
      black += mean[k];
      nblack++;
    }
  }
  white /= nwhite;
  black /= nblack;
  int contrast = white - black;
  if (contrast < MIN_CONTRAST_X16)
    return FALSE;

  int threshold = (white + black) / 2, margin = contrast / 5;
  for (int k = 0; k < NVR_IDCODE_CELLS; k++) {
    if (mean[k] >= threshold + margin)
      cells[k] = 1;
    else if (mean[k] <= threshold - margin)
      cells[k] = 0;
    else
      return FALSE;
  }
  return memcmp (cells, sync_bits[band], SYNC_CELLS) == 0 &&
         memcmp (cells + TRAILER_FIRST, trailer_bits[band], 2) == 0;
}

gboolean
nvr_idcode_read (const guint8 *luma, int width, int height, int stride,
                 guint16 *code, guint32 *counter)
{
  guint8 cells[NVR_IDCODE_BANDS][NVR_IDCODE_CELLS];

  g_return_val_if_fail (luma != NULL && code != NULL, FALSE);
  if (!geometry_ok (width, height, stride))
    return FALSE;
  for (int band = 0; band < NVR_IDCODE_BANDS; band++)
    if (!read_band (luma, width, height, stride, band, cells[band]))
      return FALSE;

  guint16 c = (guint16) get_bits (cells[0], CODE_FIRST, 16);
  if (get_bits (cells[0], CODE_CHECK_FIRST, 16) != code_check (c))
    return FALSE;
  guint32 n = get_bits (cells[1], COUNTER_FIRST, NVR_IDCODE_COUNTER_BITS);
  if (get_bits (cells[1], COUNTER_CHECK_FIRST, COUNTER_CHECK_BITS) != counter_check (c, n))
    return FALSE;

  *code = c;
  if (counter != NULL)
    *counter = n;
  return TRUE;
}
