// Launches Debian's headless Chromium with WebGPU on its bundled SwiftShader.
import { chromium } from 'playwright-core';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/lib/chromium/chromium';

// `webgpu: false` starts Chromium with no GPU at all, to test the automatic CPU fallback. The
// camera is Chromium's fake one (a moving test pattern), allowed without a prompt. Other options
// (viewport, isMobile, hasTouch, serviceWorkers) go to Playwright; `flags` are more Chromium
// switches.
export async function launch({ webgpu = true, flags = [], ...options } = {}) {
  const userDataDir = mkdtempSync(join(tmpdir(), 'convlens-chromium-'));
  const gpu = webgpu
    ? ['--enable-unsafe-webgpu', '--use-angle=swiftshader', '--use-vulkan=swiftshader', '--enable-features=Vulkan']
    : ['--disable-gpu'];
  return chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      ...gpu,
      '--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync',
      '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
      ...flags,
    ],
    ...options,
  });
}
