"""The shared 3D core: hash-grid and frequency encodings, radiance fields, cameras, the volume
renderer, mesh extraction with `.glb` export, and turntable videos. It knows no method, no
diffusion model and no screen; everything that makes 3D returns a `RadianceField`, everything that
shows or exports 3D takes one."""
