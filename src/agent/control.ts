// The hooks' and the runtime wrapper's requests: list, prestart (is the
// config good?), poststop (the container is gone: end what is left of it).
import * as path from 'path';
import type { ControlRequest } from './protocol';
import { oneLine, type AgentContext } from './context';

export async function answerControl(ctx: AgentContext, req: ControlRequest): Promise<Record<string, unknown>> {
  switch (req.vhqos) {
    case 'list':
      return { ok: true, instances: ctx.registry.list() };
    case 'prestart': {
      // The hook asks before runc installs the filter: a broken config fails
      // the container here, with a message podman shows.
      if (!req.config) return { ok: true };
      try {
        if (!path.isAbsolute(req.config)) throw new Error(`vhqos config must be an absolute path, got ${JSON.stringify(req.config)}`);
        ctx.loadConfig(req.config);
        return { ok: true };
      } catch (e) {
        ctx.log.warn({ container: req.id.slice(0, 12) }, `prestart: ${oneLine(e)}`);
        return { ok: false, error: oneLine(e) };
      }
    }
    case 'poststop': {
      const { cleaned, pending } = await ctx.registry.endContainer(req.id);
      ctx.log.info({ container: req.id.slice(0, 12), cleaned, pending }, 'poststop: container gone');
      return { ok: true, cleaned, pending };
    }
  }
}
