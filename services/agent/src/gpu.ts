/**
 * GPU detection with nvidia-smi: one entry per device. No nvidia-smi (or no NVIDIA driver) is not
 * an error: the agent then runs on the CPU.
 */
import { execFile } from 'node:child_process';

export interface GpuInfo {
  index: number;
  name: string;
  uuid: string;
  /** Total memory in GiB (nvidia-smi reports MiB). */
  memoryGb: number;
}

export type GpuDetection = { ok: true; gpus: GpuInfo[] } | { ok: false; gpus: []; reason: string };

/** Parses `nvidia-smi --query-gpu=index,name,uuid,memory.total --format=csv,noheader,nounits`. */
export function parseNvidiaSmi(csv: string): GpuInfo[] {
  const out: GpuInfo[] = [];
  for (const line of csv.split('\n')) {
    const t = line.trim();
    if (!t) continue;
    const parts = t.split(',').map((p) => p.trim());
    if (parts.length < 4) throw new Error(`unexpected nvidia-smi line: ${JSON.stringify(t)}`);
    const [index, name, uuid, mem] = [
      parts[0],
      parts.slice(1, -2).join(', '),
      parts[parts.length - 2],
      parts[parts.length - 1],
    ];
    const mib = Number(mem);
    if (!Number.isInteger(Number(index)) || !Number.isFinite(mib))
      throw new Error(`unexpected nvidia-smi line: ${JSON.stringify(t)}`);
    out.push({ index: Number(index), name, uuid, memoryGb: Math.round((mib / 1024) * 100) / 100 });
  }
  return out;
}

/** Runs nvidia-smi. Resolves with the devices, or with the reason there are none. */
export function detectGpus(command = 'nvidia-smi', timeoutMs = 10_000): Promise<GpuDetection> {
  return new Promise((resolve) => {
    execFile(
      command,
      ['--query-gpu=index,name,uuid,memory.total', '--format=csv,noheader,nounits'],
      { timeout: timeoutMs },
      (err, stdout, stderr) => {
        if (err) {
          const code = (err as NodeJS.ErrnoException).code;
          const reason =
            code === 'ENOENT'
              ? 'nvidia-smi not found (no NVIDIA driver)'
              : `nvidia-smi failed: ${(stderr || err.message).trim().split('\n')[0]}`;
          resolve({ ok: false, gpus: [], reason });
          return;
        }
        try {
          resolve({ ok: true, gpus: parseNvidiaSmi(stdout) });
        } catch (e) {
          resolve({ ok: false, gpus: [], reason: (e as Error).message });
        }
      },
    );
  });
}
