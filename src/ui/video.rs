//! The bridge between egui and the compositor: one paint callback per screen carries the
//! frames to upload and the tiles to draw; the compositor lives in egui-wgpu's callback
//! resources, created once per device.

use eframe::egui_wgpu::{self, CallbackResources, CallbackTrait, ScreenDescriptor};
use eframe::wgpu;

use std::sync::Arc;

use crate::media::FrameSlot;
use crate::render::{Compositor, Polygon, StreamId, TileDraw};

/// Registers the compositor with the renderer of `render_state`. Call once at start-up.
pub fn install_compositor(render_state: &egui_wgpu::RenderState) {
    let compositor = Compositor::new(&render_state.device, render_state.target_format);
    render_state
        .renderer
        .write()
        .callback_resources
        .insert(compositor);
}

/// One screen's video for this frame. Frames are taken from the slots only when the frame is
/// really rendered, so a frame egui never paints loses no picture.
pub struct VideoCallback {
    pub batch: u64,
    /// Each stream shown, once.
    pub sources: Vec<(StreamId, Arc<FrameSlot>)>,
    pub tiles: Vec<TileDraw>,
    /// The privacy masks of the sources that have some (the others are drawn unmasked).
    pub masks: Vec<(StreamId, Arc<Vec<Polygon>>)>,
}

impl CallbackTrait for VideoCallback {
    fn prepare(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        _screen: &ScreenDescriptor,
        encoder: &mut wgpu::CommandEncoder,
        resources: &mut CallbackResources,
    ) -> Vec<wgpu::CommandBuffer> {
        if let Some(compositor) = resources.get_mut::<Compositor>() {
            for (id, slot) in &self.sources {
                // A stream new to the GPU starts from its last picture.
                let frame = match slot.take() {
                    Some(f) => Some(f),
                    None if !compositor.has(*id) => slot.last(),
                    None => None,
                };
                if let Some(f) = frame {
                    compositor.upload(device, encoder, *id, &f);
                }
                let masks = self
                    .masks
                    .iter()
                    .find(|(m, _)| m == id)
                    .map(|(_, p)| p.as_slice())
                    .unwrap_or(&[]);
                compositor.set_masks(*id, masks);
            }
            compositor.prepare(device, queue, encoder, self.batch, &self.tiles);
        }
        Vec::new()
    }

    fn paint(
        &self,
        _info: egui::PaintCallbackInfo,
        pass: &mut wgpu::RenderPass<'static>,
        resources: &CallbackResources,
    ) {
        if let Some(compositor) = resources.get::<Compositor>() {
            compositor.paint(self.batch, pass);
        }
    }
}
