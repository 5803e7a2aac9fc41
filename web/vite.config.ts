import { defineConfig } from 'vite';

// The output directory is chosen by crates/vigil-api/build.rs (OUT_DIR), not here.
export default defineConfig({
  base: '/',
  build: { sourcemap: false, chunkSizeWarningLimit: 1024, target: 'es2022' },
});
