/* motion — motion detector pure core. Each frame: box-average to a grid of <= 160x160 cells, fit
 * the background to the frame's global lighting (robust gain + offset), threshold the residual
 * (contrast-normalised, above the measured noise), keep connected changes of at least min_area
 * that are still moving (a change that stopped is absorbed at once; objects in motion are not
 * learnt), then hysteresis. No I/O, no clock; the caller's thread. Invariant: masked cells never
 * influence anything (fit, noise, area, zones). Design: docs/design/motion.md. */
#define G_LOG_DOMAIN "nvr-motion"

#include "motion.h"

#include <string.h>

G_DEFINE_QUARK (nvr-motion-error-quark, nvr_motion_error)

#define GRID_MAX 160                      /* cells per side, at most */
#define GAP_US (5 * G_USEC_PER_SEC)       /* a longer gap between frames starts a warm-up */
#define WARMUP_FRAMES 10                  /* frames learnt, nothing counted, after a (re)start,
                                           * new size, gap, new stream or global change; the
                                           * background is then their per-cell median */
#define NOISE_K 4.0                       /* threshold >= NOISE_K * the noise sigma */
#define NOISE_WEIGHT 0.3                  /* EMA weight of a frame's noise estimate */
#define NOMINAL_STD 40.0                  /* scene std (luma) that needs no contrast gain */
#define MIN_FIT_VAR 16.0                  /* below this background variance, fit an offset only */
#define MAD_TO_SIGMA 1.4826
#define ABS_BINS 1024                     /* |residual| histogram: 0.25-level bins, 0..256 */
#define FRESH_FRAMES 1                    /* a cell moved "freshly" if it moved this frame or up
                                           * to this many frames before */
#define FRESH_DIVISOR 32                  /* a change is an object in motion if at least
                                           * max(2, size / FRESH_DIVISOR) of its cells are fresh */

enum { ROLE_LEARN, ROLE_OBJECT, ROLE_ABSORB };

struct _NvrMotion {
  NvrMotionSettings settings;

  /* Grid for the current frame size; rebuilt when it changes. */
  guint width, height;        /* pixels; 0 before the first frame */
  guint factor;               /* pixels per cell side */
  guint gw, gh, ncells;
  guint unmasked;             /* cells not covered by a mask */
  guint min_cells;            /* min_area in cells, >= 1 */
  guint zone_cells[NVR_MOTION_MAX_ZONES];   /* unmasked cells per zone */
  float *cur;                 /* this frame, box-averaged */
  float *bg;                  /* background model, in the current frame's lighting */
  guint8 *masked;             /* 1 = ignored */
  guint32 *zone_bits;         /* bit z = cell centre inside zones[z]; 0 for masked cells */
  guint8 *changed;
  guint32 *parent;            /* union-find over changed cells */
  guint32 *comp_size;         /* per root */
  guint32 *comp_fresh;        /* per root: its cells that moved in this or the previous frame */
  guint32 *comp_now;          /* per root: its cells that moved in this frame */
  float *anchor;              /* per cell: its value when it last moved (by more than the
                               * threshold from the previous anchor) */
  guint16 *still;             /* per cell: frames since it last moved (saturates) */
  guint8 *role;               /* per cell, this frame: LEARN, OBJECT (not learnt) or ABSORB */
  guint8 *warm;               /* WARMUP_FRAMES x ncells: the warm-up's frames, rounded */
  guint warm_n;               /* frames in @warm; the warm-up ends when it reaches WARMUP_FRAMES */
  gboolean warming;           /* in a warm-up: learn, count nothing */
  gboolean new_stream;        /* nvr_motion_new_stream() was called: the next frame warms up */
  gboolean have_frame;
  gint64 last_us;             /* timestamp of the last frame */
  double noise;               /* sigma of a cell's residual, luma levels; < 0 = not measured */

  /* Hysteresis. */
  guint run;                  /* consecutive motion frames */
  gint64 run_start_us;
  gboolean active;
  gint64 event_start_us;
  gint64 last_motion_us;
  guint n_entered;            /* zones entered since the run (or event) began, in order */
  guint8 entered[NVR_MOTION_MAX_ZONES];
  guint32 entered_set;
  double peak_area, peak_score;
};

void
nvr_motion_settings_init (NvrMotionSettings *settings)
{
  memset (settings, 0, sizeof *settings);
  settings->threshold = 20;
  settings->min_area = 0.003;
  settings->start_frames = 2;
  settings->end_after_ms = 10000;
  settings->background_ms = 10000;
  settings->global_fraction = 0.5;
  settings->max_contrast_gain = 4;
}

static gboolean
check_double (const char *field, double v, double lo, double hi, GError **error)
{
  /* Written so that NaN fails. */
  if (v >= lo && v <= hi)
    return TRUE;
  g_set_error (error, NVR_MOTION_ERROR, NVR_MOTION_ERROR_SETTING,
               "motion setting '%s' = %g is outside %g..%g", field, v, lo, hi);
  return FALSE;
}

static gboolean
check_int (const char *field, gint64 v, gint64 lo, gint64 hi, GError **error)
{
  if (v >= lo && v <= hi)
    return TRUE;
  g_set_error (error, NVR_MOTION_ERROR, NVR_MOTION_ERROR_SETTING,
               "motion setting '%s' = %" G_GINT64_FORMAT " is outside %" G_GINT64_FORMAT
               "..%" G_GINT64_FORMAT, field, v, lo, hi);
  return FALSE;
}

static gboolean
valid_zone_name (const char *name)
{
  gsize len = strnlen (name, NVR_MOTION_NAME_MAX);
  if (len == 0 || len >= NVR_MOTION_NAME_MAX)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    if (!g_ascii_isalnum (name[i]) && name[i] != '_' && name[i] != '-')
      return FALSE;
  return TRUE;
}

static gboolean
check_polygon (const char *kind, guint index, const NvrMotionPolygon *p, GError **error)
{
  char field[64];
  g_snprintf (field, sizeof field, "%s[%u].n_points", kind, index);
  if (!check_int (field, p->n_points, 3, NVR_MOTION_MAX_POINTS, error))
    return FALSE;
  for (guint i = 0; i < p->n_points; i++) {
    g_snprintf (field, sizeof field, "%s[%u].points[%u].x", kind, index, i);
    if (!check_double (field, p->points[i].x, 0, 1, error))
      return FALSE;
    g_snprintf (field, sizeof field, "%s[%u].points[%u].y", kind, index, i);
    if (!check_double (field, p->points[i].y, 0, 1, error))
      return FALSE;
  }
  return TRUE;
}

gboolean
nvr_motion_settings_validate (const NvrMotionSettings *s, GError **error)
{
  if (!check_double ("threshold", s->threshold, 4, 128, error) ||
      !check_double ("min_area", s->min_area, 0.0001, 0.5, error) ||
      !check_int ("start_frames", s->start_frames, 1, 50, error) ||
      !check_int ("end_after_ms", s->end_after_ms, 500, 3600000, error) ||
      !check_int ("background_ms", s->background_ms, 1000, 3600000, error) ||
      !check_double ("global_fraction", s->global_fraction, 0.2, 1, error) ||
      !check_double ("max_contrast_gain", s->max_contrast_gain, 1, 8, error) ||
      !check_int ("n_masks", s->n_masks, 0, NVR_MOTION_MAX_MASKS, error) ||
      !check_int ("n_zones", s->n_zones, 0, NVR_MOTION_MAX_ZONES, error))
    return FALSE;
  for (guint i = 0; i < s->n_masks; i++) {
    if (strnlen (s->masks[i].name, NVR_MOTION_NAME_MAX) >= NVR_MOTION_NAME_MAX) {
      g_set_error (error, NVR_MOTION_ERROR, NVR_MOTION_ERROR_SETTING,
                   "motion setting 'masks[%u].name' is not terminated within %d bytes", i,
                   NVR_MOTION_NAME_MAX);
      return FALSE;
    }
    if (!check_polygon ("masks", i, &s->masks[i], error))
      return FALSE;
  }
  for (guint i = 0; i < s->n_zones; i++) {
    if (!valid_zone_name (s->zones[i].name)) {
      g_set_error (error, NVR_MOTION_ERROR, NVR_MOTION_ERROR_SETTING,
                   "motion setting 'zones[%u].name' must be 1..%d characters of "
                   "A-Z a-z 0-9 _ -", i, NVR_MOTION_NAME_MAX - 1);
      return FALSE;
    }
    for (guint j = 0; j < i; j++)
      if (strcmp (s->zones[i].name, s->zones[j].name) == 0) {
        g_set_error (error, NVR_MOTION_ERROR, NVR_MOTION_ERROR_SETTING,
                     "motion setting 'zones[%u].name' repeats zone '%s'", i, s->zones[i].name);
        return FALSE;
      }
    if (!check_polygon ("zones", i, &s->zones[i], error))
      return FALSE;
  }
  return TRUE;
}

NvrMotion *
nvr_motion_new (const NvrMotionSettings *settings, GError **error)
{
  if (!nvr_motion_settings_validate (settings, error))
    return NULL;
  NvrMotion *m = g_new0 (NvrMotion, 1);
  m->settings = *settings;
  m->noise = -1;
  return m;
}

static void
grid_free (NvrMotion *m)
{
  g_clear_pointer (&m->cur, g_free);
  g_clear_pointer (&m->bg, g_free);
  g_clear_pointer (&m->masked, g_free);
  g_clear_pointer (&m->zone_bits, g_free);
  g_clear_pointer (&m->changed, g_free);
  g_clear_pointer (&m->parent, g_free);
  g_clear_pointer (&m->comp_size, g_free);
  g_clear_pointer (&m->comp_fresh, g_free);
  g_clear_pointer (&m->comp_now, g_free);
  g_clear_pointer (&m->anchor, g_free);
  g_clear_pointer (&m->still, g_free);
  g_clear_pointer (&m->role, g_free);
  g_clear_pointer (&m->warm, g_free);
}

void
nvr_motion_free (NvrMotion *motion)
{
  if (motion == NULL)
    return;
  grid_free (motion);
  g_free (motion);
}

const char *
nvr_motion_zone_name (const NvrMotion *motion, guint index)
{
  return index < motion->settings.n_zones ? motion->settings.zones[index].name : NULL;
}

void
nvr_motion_grid_size (const NvrMotion *motion, guint *grid_width, guint *grid_height)
{
  *grid_width = motion->gw;
  *grid_height = motion->gh;
}

/* Even-odd rule; a point exactly on an edge may fall either way. */
static gboolean
polygon_contains (const NvrMotionPolygon *p, double x, double y)
{
  gboolean inside = FALSE;
  for (guint i = 0, j = p->n_points - 1; i < p->n_points; j = i++) {
    const NvrMotionPoint *a = &p->points[i], *b = &p->points[j];
    if ((a->y > y) != (b->y > y) && x < (b->x - a->x) * (y - a->y) / (b->y - a->y) + a->x)
      inside = !inside;
  }
  return inside;
}

/* A cell is masked if a mask covers any of 9 sample points spread over it (1 % inset from its
 * edges), so a cell that straddles a mask's edge (e.g. the bottom of a changing text band) is
 * ignored rather than half-counted. A cell is in a zone if the zone covers its centre. */
static void
grid_init (NvrMotion *m, guint width, guint height)
{
  grid_free (m);
  m->width = width;
  m->height = height;
  m->factor = MAX ((width + GRID_MAX - 1) / GRID_MAX, (height + GRID_MAX - 1) / GRID_MAX);
  m->gw = (width + m->factor - 1) / m->factor;
  m->gh = (height + m->factor - 1) / m->factor;
  m->ncells = m->gw * m->gh;
  m->cur = g_new (float, m->ncells);
  m->bg = g_new (float, m->ncells);
  m->masked = g_new0 (guint8, m->ncells);
  m->zone_bits = g_new0 (guint32, m->ncells);
  m->changed = g_new (guint8, m->ncells);
  m->parent = g_new (guint32, m->ncells);
  m->comp_size = g_new (guint32, m->ncells);
  m->comp_fresh = g_new (guint32, m->ncells);
  m->comp_now = g_new (guint32, m->ncells);
  m->anchor = g_new (float, m->ncells);
  m->still = g_new0 (guint16, m->ncells);
  m->role = g_new0 (guint8, m->ncells);
  m->warm = g_new (guint8, (gsize) WARMUP_FRAMES * m->ncells);
  m->unmasked = 0;
  memset (m->zone_cells, 0, sizeof m->zone_cells);

  static const double samples[3] = { 0.01, 0.5, 0.99 };
  const NvrMotionSettings *s = &m->settings;
  for (guint gy = 0; gy < m->gh; gy++) {
    double y0 = (double) (gy * m->factor) / height;
    double y1 = (double) MIN ((gy + 1) * m->factor, height) / height;
    for (guint gx = 0; gx < m->gw; gx++) {
      double x0 = (double) (gx * m->factor) / width;
      double x1 = (double) MIN ((gx + 1) * m->factor, width) / width;
      guint i = gy * m->gw + gx;
      for (guint k = 0; k < s->n_masks && !m->masked[i]; k++)
        for (guint sy = 0; sy < 3 && !m->masked[i]; sy++)
          for (guint sx = 0; sx < 3 && !m->masked[i]; sx++)
            if (polygon_contains (&s->masks[k], x0 + samples[sx] * (x1 - x0),
                                  y0 + samples[sy] * (y1 - y0)))
              m->masked[i] = 1;
      if (m->masked[i])
        continue;
      m->unmasked++;
      for (guint z = 0; z < s->n_zones; z++)
        if (polygon_contains (&s->zones[z], (x0 + x1) / 2, (y0 + y1) / 2)) {
          m->zone_bits[i] |= 1u << z;
          m->zone_cells[z]++;
        }
    }
  }
  m->min_cells = MAX (1, (guint) (s->min_area * m->ncells + 0.999));
}

static void
downscale (NvrMotion *m, const guint8 *pixels, guint stride)
{
  guint32 acc[GRID_MAX];
  guint f = m->factor;
  for (guint gy = 0; gy < m->gh; gy++) {
    guint y0 = gy * f, y1 = MIN (y0 + f, m->height);
    memset (acc, 0, sizeof acc);
    for (guint y = y0; y < y1; y++) {
      const guint8 *row = pixels + (gsize) y * stride;
      for (guint gx = 0; gx < m->gw; gx++) {
        guint x0 = gx * f, x1 = MIN (x0 + f, m->width);
        guint32 sum = 0;
        for (guint x = x0; x < x1; x++)
          sum += row[x];
        acc[gx] += sum;
      }
    }
    for (guint gx = 0; gx < m->gw; gx++) {
      guint cw = MIN ((gx + 1) * f, m->width) - gx * f;
      m->cur[gy * m->gw + gx] = (float) acc[gx] / (float) (cw * (y1 - y0));
    }
  }
}

static double
clampd (double v, double lo, double hi)
{
  return v < lo ? lo : v > hi ? hi : v;
}

/* Median of |cur - bg - offset| over unmasked cells, in luma levels (0.25-level resolution). */
static double
median_abs_residual (const NvrMotion *m, double offset)
{
  guint hist[ABS_BINS] = { 0 };
  for (guint i = 0; i < m->ncells; i++) {
    if (m->masked[i])
      continue;
    double r = m->cur[i] - m->bg[i] - offset;
    guint bin = (guint) ((r < 0 ? -r : r) * 4);
    hist[MIN (bin, ABS_BINS - 1)]++;
  }
  guint half = m->unmasked / 2, seen = 0;
  for (guint b = 0; b < ABS_BINS; b++) {
    seen += hist[b];
    if (seen > half)
      return (b + 0.5) / 4;
  }
  return 256;
}

/* Contrast normalisation, step 1: explain global lighting. Fits cur ≈ a·bg + o on the cells
 * that did not change locally, then applies it to the background, so a brightness step or an
 * exposure/gain change leaves no residual. Robust to local change under half the frame: the
 * first estimate is the median offset, and only cells near it enter the least-squares fit. */
static void
fit_lighting (NvrMotion *m)
{
  guint hist[511] = { 0 };
  for (guint i = 0; i < m->ncells; i++)
    if (!m->masked[i])
      hist[(guint) (m->cur[i] - m->bg[i] + 255.5f)]++;
  guint half = m->unmasked / 2, seen = 0, med = 255;
  for (guint b = 0; b < 511; b++) {
    seen += hist[b];
    if (seen > half) {
      med = b;
      break;
    }
  }
  double o0 = (double) med - 255;
  double keep = MAX (3 * MAD_TO_SIGMA * median_abs_residual (m, o0), 4.0);

  double n = 0, sb = 0, sc = 0, sbb = 0, sbc = 0;
  for (guint i = 0; i < m->ncells; i++) {
    if (m->masked[i])
      continue;
    double b = m->bg[i], c = m->cur[i], r = c - b - o0;
    if (r > keep || r < -keep)
      continue;
    n++;
    sb += b;
    sc += c;
    sbb += b * b;
    sbc += b * c;
  }
  double a = 1, o = o0;
  if (n >= 16) {
    double mb = sb / n, mc = sc / n, var = sbb / n - mb * mb;
    if (var >= MIN_FIT_VAR)
      a = clampd ((sbc / n - mb * mc) / var, 0.25, 4);
    o = mc - a * mb;
  }
  for (guint i = 0; i < m->ncells; i++)
    m->bg[i] = (float) clampd (a * m->bg[i] + o, 0, 255);
}

/* sqrt without libm (nvrcore does not link it): Newton's method, v in [0, 65536]. */
static double
sqrt_pos (double v)
{
  if (v <= 0)
    return 0;
  double x = v > 1 ? v / 2 : 1;
  for (int k = 0; k < 40; k++)
    x = (x + v / x) / 2;
  return x;
}

static guint32
uf_find (guint32 *parent, guint32 i)
{
  while (parent[i] != i) {
    parent[i] = parent[parent[i]];
    i = parent[i];
  }
  return i;
}

static void
uf_union (guint32 *parent, guint32 a, guint32 b)
{
  a = uf_find (parent, a);
  b = uf_find (parent, b);
  if (a != b)
    parent[MAX (a, b)] = MIN (a, b);
}

typedef struct {
  gboolean motion, global;
  gboolean live;          /* a moving change has cells that moved in this very frame */
  double area, score;
  double box_x, box_y, box_w, box_h;
  guint32 zones_now;
} Detection;

/* Per cell: a value more than @thr from its anchor is a movement (new anchor, still = 0);
 * otherwise the cell has been still one frame longer. */
static void
track_movement (NvrMotion *m, double thr)
{
  for (guint i = 0; i < m->ncells; i++) {
    double d = m->cur[i] - m->anchor[i];
    if (d > thr || d < -thr) {
      m->anchor[i] = m->cur[i];
      m->still[i] = 0;
    } else if (m->still[i] < G_MAXUINT16) {
      m->still[i]++;
    }
  }
}

static void
detect (NvrMotion *m, Detection *det)
{
  const NvrMotionSettings *s = &m->settings;
  memset (det, 0, sizeof *det);
  memset (m->role, ROLE_LEARN, m->ncells);
  if (m->unmasked == 0)
    return;

  /* Step 1: a low-contrast scene (night) gets its residual amplified, up to max_contrast_gain;
   * equivalently the threshold in luma levels is divided by the gain. */
  double n = 0, sum = 0, sum2 = 0;
  for (guint i = 0; i < m->ncells; i++)
    if (!m->masked[i]) {
      n++;
      sum += m->bg[i];
      sum2 += (double) m->bg[i] * m->bg[i];
    }
  double std = sqrt_pos (MAX (sum2 / n - (sum / n) * (sum / n), 0));
  double gain = std > 0 ? clampd (NOMINAL_STD / std, 1, s->max_contrast_gain)
                        : s->max_contrast_gain;
  double noise = MAX (m->noise, 0);

  /* Step 2: global change, before any correction. If more than global_fraction of the frame
   * moved by more than threshold luma levels (no contrast gain here, so small exposure steps at
   * night are left to the lighting fit), the scene as a whole changed: a light, an IR switch,
   * lightning, a camera knocked. Not motion; the caller re-baselines. */
  double thr_raw = MAX (s->threshold, NOISE_K * noise);
  guint n_raw = 0;
  for (guint i = 0; i < m->ncells; i++) {
    double r = m->cur[i] - m->bg[i];
    n_raw += !m->masked[i] && (r > thr_raw || r < -thr_raw);
  }
  if (n_raw > s->global_fraction * m->unmasked) {
    det->global = TRUE;
    return;
  }

  /* Step 3: explain smaller global lighting changes (clouds, exposure, gain). */
  fit_lighting (m);

  /* Step 4: noise floor. The median residual of this frame (robust while local change covers
   * under half the frame) is blended into a running estimate; the threshold never drops below
   * NOISE_K sigma, so sensor noise alone stays below it at any gain. */
  double sigma = MAD_TO_SIGMA * median_abs_residual (m, 0);
  noise = m->noise < 0 ? sigma : (1 - NOISE_WEIGHT) * m->noise + NOISE_WEIGHT * sigma;
  double thr = MAX (s->threshold / gain, NOISE_K * noise);

  guint n_changed = 0;
  for (guint i = 0; i < m->ncells; i++) {
    double r = m->cur[i] - m->bg[i];
    m->changed[i] = !m->masked[i] && (r > thr || r < -thr);
    n_changed += m->changed[i];
  }

  /* Step 5: global change that lighting does not explain (a non-linear change such as an IR
   * switch): same verdict. The noise estimate of such a frame is not kept. */
  if (n_changed > s->global_fraction * m->unmasked) {
    det->global = TRUE;
    return;
  }
  m->noise = noise;
  track_movement (m, thr);
  if (n_changed < m->min_cells)
    return;

  /* Step 6: connected changes (8-neighbourhood); only those of at least min_cells count. */
  guint gw = m->gw;
  for (guint i = 0; i < m->ncells; i++) {
    if (!m->changed[i])
      continue;
    m->parent[i] = i;
    m->comp_size[i] = 0;
    guint x = i % gw, y = i / gw;
    if (x > 0 && m->changed[i - 1])
      uf_union (m->parent, i, i - 1);
    if (y > 0) {
      if (x > 0 && m->changed[i - gw - 1])
        uf_union (m->parent, i, i - gw - 1);
      if (m->changed[i - gw])
        uf_union (m->parent, i, i - gw);
      if (x + 1 < gw && m->changed[i - gw + 1])
        uf_union (m->parent, i, i - gw + 1);
    }
  }
  for (guint i = 0; i < m->ncells; i++)
    if (m->changed[i]) {
      guint32 r = uf_find (m->parent, i);
      if (r == i)
        m->comp_fresh[r] = m->comp_now[r] = 0;
    }
  for (guint i = 0; i < m->ncells; i++)
    if (m->changed[i]) {
      guint32 r = uf_find (m->parent, i);
      m->comp_size[r]++;
      m->comp_fresh[r] += m->still[i] <= FRESH_FRAMES;
      m->comp_now[r] += m->still[i] == 0;
    }

  /* Step 7: moving or still. A change of at least min_cells is an object in motion if enough
   * of its cells moved in this or the previous frame (its edges, for a uniform object); else it
   * is a change that stopped changing — an object that stopped, the hole one left, a keyframe's
   * jump — and it is absorbed into the background at once instead of showing as motion until
   * the background learns it (the "second ghost"). */
  guint32 largest = 0;
  for (guint i = 0; i < m->ncells; i++) {
    if (!m->changed[i])
      continue;
    guint32 r = uf_find (m->parent, i), size = m->comp_size[r];
    if (size < m->min_cells)
      continue;
    guint32 need = MAX (2, size / FRESH_DIVISOR);
    if (m->comp_fresh[r] < need) {
      m->role[i] = ROLE_ABSORB;
      continue;
    }
    m->role[i] = ROLE_OBJECT;
    largest = MAX (largest, size);
    if (m->comp_now[r] >= need)
      det->live = TRUE;
  }
  if (largest < m->min_cells)
    return;

  guint in_objects = 0, x0 = G_MAXUINT, y0 = G_MAXUINT, x1 = 0, y1 = 0;
  guint zone_hits[NVR_MOTION_MAX_ZONES] = { 0 };
  for (guint i = 0; i < m->ncells; i++) {
    if (m->role[i] != ROLE_OBJECT)
      continue;
    guint x = i % gw, y = i / gw;
    in_objects++;
    x0 = MIN (x0, x);
    x1 = MAX (x1, x + 1);
    y0 = MIN (y0, y);
    y1 = MAX (y1, y + 1);
    for (guint32 bits = m->zone_bits[i]; bits != 0; bits &= bits - 1)
      zone_hits[g_bit_nth_lsf (bits, -1)]++;
  }
  /* A zone is entered when moving cells cover a quarter of min_area inside it, or all of it. */
  guint zone_need = MAX (1, m->min_cells / 4);
  for (guint z = 0; z < s->n_zones; z++)
    if (zone_hits[z] > 0 && zone_hits[z] >= MIN (zone_need, m->zone_cells[z]))
      det->zones_now |= 1u << z;

  double fx = (double) m->factor / m->width, fy = (double) m->factor / m->height;
  det->motion = TRUE;
  det->area = (double) in_objects / m->ncells;
  det->score = (double) largest / m->min_cells;
  det->box_x = x0 * fx;
  det->box_y = y0 * fy;
  det->box_w = MIN (x1 * fx, 1.0) - det->box_x;
  det->box_h = MIN (y1 * fy, 1.0) - det->box_y;
}

/* Step 8: cells outside objects in motion learn at @alpha; a change that stopped changing
 * becomes background at once; an object in motion is not learnt (no trail behind it, no ghost
 * where it was). */
static void
learn (NvrMotion *m, double alpha)
{
  float a = (float) alpha;
  for (guint i = 0; i < m->ncells; i++) {
    if (m->role[i] == ROLE_LEARN)
      m->bg[i] += a * (m->cur[i] - m->bg[i]);
    else if (m->role[i] == ROLE_ABSORB)
      m->bg[i] = m->cur[i];
  }
}

/* Starts a warm-up with this frame: the background is this frame until the warm-up ends. */
static void
warmup_start (NvrMotion *m)
{
  memcpy (m->bg, m->cur, m->ncells * sizeof *m->bg);
  memcpy (m->anchor, m->cur, m->ncells * sizeof *m->anchor);
  memset (m->still, 0, m->ncells * sizeof *m->still);
  m->warming = TRUE;
  m->warm_n = 0;
  m->noise = -1;
}

/* TRUE if this frame differs from the previous warm-up frame as a whole (more than
 * global_fraction of the unmasked cells by more than threshold levels): a decoder's grey
 * frames before its first keyframe giving way to the picture, a light switched on. */
static gboolean
warmup_global_change (const NvrMotion *m)
{
  const guint8 *prev = m->warm + (gsize) (m->warm_n - 1) * m->ncells;
  double thr = m->settings.threshold;
  guint n = 0;
  for (guint i = 0; i < m->ncells; i++) {
    double r = m->cur[i] - prev[i];
    n += !m->masked[i] && (r > thr || r < -thr);
  }
  return n > m->settings.global_fraction * m->unmasked;
}

/* One warm-up frame: kept; a global change restarts the warm-up from it (so frames from before
 * the change never enter the background); the WARMUP_FRAMES-th frame ends it with the per-cell
 * median as the background. An object that moves stays out of it; one that stands still in
 * most of the frames is background. Returns TRUE if the warm-up restarted. */
static gboolean
warmup_add (NvrMotion *m)
{
  gboolean restarted = FALSE;
  if (m->warm_n > 0 && warmup_global_change (m)) {
    warmup_start (m);
    restarted = TRUE;
  }
  track_movement (m, m->settings.threshold);
  guint8 *slot = m->warm + (gsize) m->warm_n * m->ncells;
  for (guint i = 0; i < m->ncells; i++)
    slot[i] = (guint8) (m->cur[i] + 0.5f);
  memcpy (m->bg, m->cur, m->ncells * sizeof *m->bg);
  if (++m->warm_n < WARMUP_FRAMES)
    return restarted;
  for (guint i = 0; i < m->ncells; i++) {
    guint8 v[WARMUP_FRAMES];
    for (guint k = 0; k < WARMUP_FRAMES; k++) {   /* insertion sort */
      guint8 x = m->warm[(gsize) k * m->ncells + i];
      guint j = k;
      for (; j > 0 && v[j - 1] > x; j--)
        v[j] = v[j - 1];
      v[j] = x;
    }
    m->bg[i] = (v[(WARMUP_FRAMES - 1) / 2] + v[WARMUP_FRAMES / 2]) / 2.0f;
  }
  m->warming = FALSE;
  return restarted;
}

static void
forget_zones (NvrMotion *m)
{
  m->n_entered = 0;
  m->entered_set = 0;
}

/* Start after start_frames consecutive motion frames (dated from the first of them); end
 * end_after_ms after the last motion frame. Zones and peaks accumulate from the run's first
 * frame. */
static void
hysteresis (NvrMotion *m, gint64 now_us, const Detection *det, NvrMotionResult *result)
{
  const NvrMotionSettings *s = &m->settings;
  if (det != NULL && det->motion) {
    if (m->run == 0 && !m->active) {
      m->run_start_us = now_us;
      forget_zones (m);
      m->peak_area = m->peak_score = 0;
    }
    m->run++;
    m->last_motion_us = now_us;
    m->peak_area = MAX (m->peak_area, det->area);
    m->peak_score = MAX (m->peak_score, det->score);
    for (guint z = 0; z < s->n_zones; z++)
      if ((det->zones_now & (1u << z)) && !(m->entered_set & (1u << z))) {
        m->entered_set |= 1u << z;
        m->entered[m->n_entered++] = (guint8) z;
      }
    if (!m->active && m->run >= s->start_frames && det->live) {
      m->active = TRUE;
      m->event_start_us = m->run_start_us;
      result->started = TRUE;
    }
  } else {
    m->run = 0;
    if (m->active && now_us - m->last_motion_us >= s->end_after_ms * 1000) {
      m->active = FALSE;
      result->ended = TRUE;
      result->event_end_us = m->last_motion_us;
    } else if (!m->active) {
      forget_zones (m);
    }
  }
  result->active = m->active;
  if (m->active || result->ended) {
    result->event_start_us = m->event_start_us;
    result->peak_area = m->peak_area;
    result->peak_score = m->peak_score;
  }
  result->n_zones_entered = m->n_entered;
  memcpy (result->zones_entered, m->entered, m->n_entered);
  if (result->ended)
    forget_zones (m);
}

gboolean
nvr_motion_process (NvrMotion *m, const guint8 *pixels, guint width, guint height, guint stride,
                    gint64 timestamp_us, NvrMotionResult *result, GError **error)
{
  if (pixels == NULL || width < NVR_MOTION_MIN_SIDE || width > NVR_MOTION_MAX_SIDE ||
      height < NVR_MOTION_MIN_SIDE || height > NVR_MOTION_MAX_SIDE || stride < width) {
    g_set_error (error, NVR_MOTION_ERROR, NVR_MOTION_ERROR_FRAME,
                 "frame %ux%u stride %u is not a GRAY8 frame of %d..%d pixels per side",
                 width, height, stride, NVR_MOTION_MIN_SIDE, NVR_MOTION_MAX_SIDE);
    return FALSE;
  }
  if (m->have_frame && timestamp_us <= m->last_us) {
    g_set_error (error, NVR_MOTION_ERROR, NVR_MOTION_ERROR_FRAME,
                 "frame timestamp %" G_GINT64_FORMAT " us is not after the previous one (%"
                 G_GINT64_FORMAT " us)", timestamp_us, m->last_us);
    return FALSE;
  }
  memset (result, 0, sizeof *result);

  gboolean fresh = !m->have_frame || width != m->width || height != m->height;
  if (width != m->width || height != m->height)
    grid_init (m, width, height);
  downscale (m, pixels, stride);

  gint64 dt_us = m->have_frame ? timestamp_us - m->last_us : 0;
  Detection det = { 0 };
  if (fresh || dt_us > GAP_US || m->new_stream) {
    m->new_stream = FALSE;
    warmup_start (m);
    warmup_add (m);
    result->rebaselined = TRUE;
    result->warming_up = TRUE;
  } else if (m->warming) {
    result->rebaselined = warmup_add (m);
    result->warming_up = TRUE;
  } else {
    detect (m, &det);
    if (det.global) {
      warmup_start (m);
      warmup_add (m);
      result->rebaselined = TRUE;
      result->warming_up = TRUE;
    } else {
      double tau_us = (double) m->settings.background_ms * 1000;
      learn (m, dt_us / (tau_us + dt_us));
    }
  }
  m->have_frame = TRUE;
  m->last_us = timestamp_us;

  hysteresis (m, timestamp_us, &det, result);
  result->motion = det.motion;
  result->score = det.score;
  result->area = det.area;
  result->box_x = det.box_x;
  result->box_y = det.box_y;
  result->box_w = det.box_w;
  result->box_h = det.box_h;
  result->zones_now = det.zones_now;
  return TRUE;
}

void
nvr_motion_new_stream (NvrMotion *motion)
{
  motion->new_stream = TRUE;
}

void
nvr_motion_advance (NvrMotion *m, gint64 now_us, NvrMotionResult *result)
{
  memset (result, 0, sizeof *result);
  if (m->have_frame && now_us < m->last_us)
    now_us = m->last_us;
  hysteresis (m, now_us, NULL, result);
}
