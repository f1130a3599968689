import { describe, expect, it } from 'vitest';
import { collectControlNet, parseControlNetArg } from './controlnet-arg.js';

describe('--controlnet ID=IMAGE[,key=value…]', () => {
  it('parses the id, image and options; repeats accumulate', () => {
    expect(parseControlNetArg('controlnet-canny-sd15=edges.png')).toEqual({
      model: 'controlnet-canny-sd15',
      imagePath: 'edges.png',
    });
    expect(parseControlNetArg('cn=photo.jpg,preprocess=canny,scale=0.5,start=0.1,end=0.9')).toEqual({
      model: 'cn',
      imagePath: 'photo.jpg',
      preprocess: 'canny',
      scale: 0.5,
      guidanceStart: 0.1,
      guidanceEnd: 0.9,
    });
    expect(collectControlNet('b=2.png', collectControlNet('a=1.png')).map((c) => c.model)).toEqual(['a', 'b']);
  });

  it('names what is wrong', () => {
    expect(() => parseControlNetArg('edges.png')).toThrow(/ID=IMAGE/);
    expect(() => parseControlNetArg('cn=x.png,scale=big')).toThrow(/scale wants a number/);
    expect(() => parseControlNetArg('cn=x.png,weight=1')).toThrow(/unknown key "weight"/);
  });
});
