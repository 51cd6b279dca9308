/* cyclegan: translates raw video frame by frame with a CycleGAN generator (G.pt). */
#pragma once

#include <gst/video/gstvideofilter.h>
#include <gst/video/video.h>

G_BEGIN_DECLS

#define GST_TYPE_CYCLEGAN (gst_cyclegan_get_type())
G_DECLARE_FINAL_TYPE(GstCycleGan, gst_cyclegan, GST, CYCLEGAN, GstVideoFilter)

#define GST_TYPE_CYCLEGAN_PRECISION (gst_cyclegan_precision_get_type())
GType gst_cyclegan_precision_get_type(void);
#define GST_TYPE_CYCLEGAN_MEMORY_FORMAT (gst_cyclegan_memory_format_get_type())
GType gst_cyclegan_memory_format_get_type(void);
#define GST_TYPE_CYCLEGAN_RUNTIME (gst_cyclegan_runtime_get_type())
GType gst_cyclegan_runtime_get_type(void);
#define GST_TYPE_CYCLEGAN_TEMPORAL (gst_cyclegan_temporal_get_type())
GType gst_cyclegan_temporal_get_type(void);

GST_ELEMENT_REGISTER_DECLARE(cyclegan);

G_END_DECLS
