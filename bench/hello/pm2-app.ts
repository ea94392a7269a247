// The script PM2 runs in cluster mode (`pm2 start pm2-app.ts -i 2`): listener-app.ts on
// 127.0.0.1:$PORT. PM2 forks the workers through node:cluster and shares the port.
import http from 'node:http';
import listener from './listener-app.ts';

http.createServer(listener).listen({ host: '127.0.0.1', port: Number(process.env.PORT), backlog: 2048 });
