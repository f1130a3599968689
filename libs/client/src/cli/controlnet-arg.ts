/**
 * `tessera submit image --controlnet ID=IMAGE[,preprocess=canny|blur|none][,scale=S][,start=F][,end=F]`: one
 * ControlNet per flag (repeat for several). Pure parsing; the image file is read by the command.
 */
import { InvalidArgumentError } from 'commander';

/** A parsed --controlnet value. */
export interface ControlNetArg {
  model: string;
  imagePath: string;
  preprocess?: string;
  scale?: number;
  guidanceStart?: number;
  guidanceEnd?: number;
}

/** Parses one --controlnet value; commander's InvalidArgumentError names what is wrong. */
export function parseControlNetArg(value: string): ControlNetArg {
  const [head, ...opts] = value.split(',');
  const eq = head.indexOf('=');
  if (eq <= 0 || eq === head.length - 1)
    throw new InvalidArgumentError(`want ID=IMAGE[,key=value…], got ${JSON.stringify(value)}`);
  const arg: ControlNetArg = { model: head.slice(0, eq), imagePath: head.slice(eq + 1) };
  for (const o of opts) {
    const [k, v] = o.split('=');
    const num = () => {
      const n = Number(v);
      if (v === undefined || v === '' || !Number.isFinite(n))
        throw new InvalidArgumentError(`${k} wants a number, got ${JSON.stringify(v)}`);
      return n;
    };
    if (k === 'preprocess') arg.preprocess = v;
    else if (k === 'scale') arg.scale = num();
    else if (k === 'start') arg.guidanceStart = num();
    else if (k === 'end') arg.guidanceEnd = num();
    else throw new InvalidArgumentError(`unknown key ${JSON.stringify(k)} (preprocess, scale, start, end)`);
  }
  return arg;
}

/** Commander accumulator: every --controlnet appends one parsed value. */
export function collectControlNet(value: string, prev: ControlNetArg[] = []): ControlNetArg[] {
  return [...prev, parseControlNetArg(value)];
}
