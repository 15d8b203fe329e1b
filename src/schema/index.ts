import { builder } from '../builder.ts';
import './user/index.ts';
import './workspace/index.ts';
import './channel/index.ts';
import './message/index.ts';
import './message/receipts.ts';
import './channelEvent/index.ts';
import './notification/index.ts';
import './inbox/index.ts';
import './presence/index.ts';
import './typing/index.ts';
import './follow/index.ts';
import './post/index.ts';
import './delivery/index.ts';
import './search/index.ts';
import './attachment/index.ts';
import './node/index.ts';

builder.queryType({});
builder.mutationType({});
builder.subscriptionType({});

export const schema = builder.toSchema({ sortSchema: false });
